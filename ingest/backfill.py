"""Backfill: read again, with today's contracts and unit lists, the files received in a past period.

The originals are kept under their sha256 (data/raw), so a period can be re-run after a contract or
unit-list fix: every file received in [start, end) that landed or was rejected is read again from
its kept bytes. Its new reading replaces the old one and keeps its place in time, so it never
displaces a correction received later. Nothing is deleted; the ledger says what happened.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ingest.contract import all_contracts
from ingest.landing import IngestRun
from ingest.run import REPORTS_FOLDER, IngestResult
from ingest.safety import shown_name
from ingest.store import Ledger, ensure_empty_bronze
from ntm_core.log import log


def reingest_received(
    dropzone: Path, data_dir: Path, run_id: str, start: datetime, end: datetime, departments: list[str] | None = None
) -> IngestResult:
    for contract in all_contracts().values():
        ensure_empty_bronze(contract, data_dir)
    ledger = Ledger(data_dir)
    result = IngestResult(run_id=run_id)
    with ledger.connect() as con:
        files = ledger.received_between(con, start, end)
        files = [f for f in files if not departments or f[0] in departments]
        log(f"backfill: {len(files)} file(s) received between {start.isoformat()} and {end.isoformat()}")
        run = IngestRun(data_dir, run_id, ledger, con)
        try:
            for number, (department, dataset, raw_path, received_at) in enumerate(files, start=1):
                report_dir = dropzone / department / REPORTS_FOLDER / dataset
                outcome = run.landing(Path(raw_path), department, dataset, report_dir, received_at).land()
                log(
                    f"backfill: [{number}/{len(files)}] {department}/{dataset}/{shown_name(outcome.file_name)}: "
                    f"{outcome.status}" + (f" — {outcome.reason}" if outcome.reason else "")
                )
                result.files.append(outcome)
        finally:
            ledger.export(con)
    return result
