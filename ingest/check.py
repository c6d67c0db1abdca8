"""`ntm check`: the verdict ingest would give a file, with nothing kept.

The file goes through the very same reading as in the drop zone (`landing.Landing`), into a scratch
lakehouse in a temporary folder that is removed afterwards: the real data dir, ledger and reports
are never touched. The department staff's question, "would this file land?", gets ingest's own
answer and its report."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.landing import FileOutcome, IngestRun
from ingest.safety import shown_name, stored_name
from ingest.store import Ledger


@dataclass
class Verdict:
    outcome: FileOutcome
    report: dict | None  # the report ingest would write (None: the file would land whole)

    @property
    def lands_whole(self) -> bool:
        """The file would land whole, every column of it read."""
        return self.outcome.status == "landed" and not self.outcome.columns_not_recognised

    def as_json(self) -> dict:
        """The verdict as one object, whatever the file: the report's own (problems, notes, columns)
        with the fate and the row counts, or the same keys, empty, when the file needs no report."""
        o = self.outcome
        report = self.report or {
            "file": o.file_name,
            "department": o.department,
            "dataset": o.dataset,
            "problems": [],
            "problems_total": 0,
            "problems_not_listed": 0,
            "problems_by_column": [],
            "notes": [],
        }
        return {
            **report,
            "verdict": o.status,
            "lands_whole": self.lands_whole,
            "rows_landed": o.rows_landed,
            "rows_held_back": o.rows_quarantined,
            "columns": {"read": o.columns_read, "not_recognised": o.columns_not_recognised},
        }


def check_file(path: Path, dataset: str, department: str) -> Verdict:
    scratch = Path(tempfile.mkdtemp(prefix="ntm-check-"))
    try:
        data_dir, report_dir = scratch / "data", scratch / "reports"
        # A copy under the file's own name: the reading never depends on where the file lies.
        copy = scratch / "file" / path.name
        copy.parent.mkdir()
        shutil.copyfile(path, copy)
        ledger = Ledger(data_dir)
        with ledger.connect() as con:
            # received_at: read now, without waiting for the file to settle (it is a copy, complete).
            run = IngestRun(data_dir, "check", ledger, con)
            outcome = run.landing(copy, department, dataset, report_dir, received_at=datetime.now(UTC)).land()
        report = report_dir / f"{stored_name(path.name)}.report.json"
        outcome.report = None  # the scratch folder is gone once this returns
        return Verdict(outcome, json.loads(report.read_text(encoding="utf-8")) if report.exists() else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def render(verdict: Verdict) -> str:
    """The verdict as a department reads it: the fate, then each problem (row, column, value, reason, fix)."""
    o = verdict.outcome
    lines = [
        f"{o.status}: {shown_name(o.department)}/{shown_name(o.dataset)}/{shown_name(o.file_name)} "
        f"({o.rows_landed} rows would land, {o.rows_quarantined} held back)"
    ]
    if o.columns_read or o.columns_not_recognised:
        lines.append(
            f"  {len(o.columns_read)} columns read / cột đã đọc; "
            f"{len(o.columns_not_recognised)} not recognised / không nhận ra"
            + (f": {'; '.join(o.columns_not_recognised)}" if o.columns_not_recognised else "")
        )
    report = verdict.report or {}
    for p in [*report.get("problems", []), *report.get("notes", [])]:
        where = ", ".join(f"{k} {p[k]}" for k in ("sheet", "row", "column") if p.get(k) is not None) or "tệp / file"
        value = f" '{p['value']}'" if p["value"] is not None else ""
        lines.append(f"  [{where}]{value}: {p['vi']} / {p['en']}\n      → {p['fix_vi']} / {p['fix_en']}")
    if verdict.report and verdict.report["problems_not_listed"]:
        lines.append(
            f"  … {verdict.report['problems_not_listed']} more / còn {verdict.report['problems_not_listed']} lỗi khác"
        )
    return "\n".join(lines)
