"""The ingest stage: every file in the drop zone lands in bronze, or gets a report saying why not.

The drop zone is laid out as `<dropzone>/<department>/<dataset>/<files>`. Folders and files whose
names start with `_` or `.` (reports, temporary copies) are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.contract import all_contracts
from ingest.landing import FileOutcome, IngestRun
from ingest.safety import shown_name
from ingest.store import CURRENT_STATUSES, Ledger, clean_leftovers, ensure_empty_bronze
from ntm_core.log import log, shown

REPORTS_FOLDER = "_reports"


@dataclass
class IngestResult:
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def landed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status in CURRENT_STATUSES]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no files"


def _visible(path: Path) -> bool:
    return not path.name.startswith(("_", "."))


def discover(dropzone: Path) -> list[tuple[str, str, Path]]:
    """(department, dataset, entry) for every entry laid out as <department>/<dataset>/<entry>; a
    dataset's entries come in the order they arrived (modification time, then name), so of two
    copies of the same bytes the first to arrive is the original.

    Links are listed, never followed. A dataset folder that is a link, and an entry that is a link,
    a folder or anything but a regular file, come back as entries: ingest rejects them unread, with
    a report (`safety.check_before_reading`). A department folder that is a link has no folder of
    its own to report in: it is logged."""
    found = []
    for dept in sorted(p for p in dropzone.iterdir() if p.is_dir() and _visible(p)):
        if dept.is_symlink():
            log(
                f"ingest: {shown_name(dept.name)}/: the department folder is a symbolic link: not followed, "
                "none of its files read (no report: it has no folder of its own)"
            )
            continue
        for ds in sorted(p for p in dept.iterdir() if p.is_dir() and _visible(p)):
            if ds.is_symlink():
                found.append((dept.name, ds.name, ds))  # rejected as a link; its report says why
            else:
                found.extend((dept.name, ds.name, entry) for entry in _by_arrival(ds))
    return found


def _by_arrival(folder: Path) -> list[Path]:
    """A dataset folder's visible entries, first arrived first: by modification time (a link's
    own), then name. An entry removed while the folder is listed is left out."""
    arrived = []
    for entry in folder.iterdir():
        if _visible(entry):
            try:
                arrived.append((entry.lstat().st_mtime_ns, entry.name, entry))
            except FileNotFoundError:
                continue
    return [entry for _, _, entry in sorted(arrived)]


def ingest_dropzone(dropzone: Path, data_dir: Path, run_id: str, departments: list[str] | None = None) -> IngestResult:
    """Ingest every new file of the drop zone (optionally only some departments)."""
    for contract in all_contracts().values():
        ensure_empty_bronze(contract, data_dir)
    ledger = Ledger(data_dir)
    result = IngestResult(run_id=run_id)
    if not dropzone.is_dir():
        raise FileNotFoundError(f"drop zone {dropzone} does not exist")
    with ledger.connect() as con:
        for leftover in clean_leftovers(data_dir):
            log(f"ingest: removed {leftover}, left by a run that was stopped")
        run = IngestRun(data_dir, run_id, ledger, con)
        try:
            for department, dataset, path in discover(dropzone):
                if departments and department not in departments:
                    continue
                report_dir = dropzone / department / REPORTS_FOLDER / dataset
                outcome = run.landing(path, department, dataset, report_dir).land()
                log(
                    f"ingest: {shown_name(department)}/{shown_name(dataset)}/{shown_name(path.name)}: {outcome.status}"
                    + (
                        f" ({outcome.rows_landed} rows, {outcome.rows_quarantined} held back)"
                        if outcome.rows_landed or outcome.rows_quarantined
                        else ""
                    )
                    + (f" — {shown(outcome.reason)}" if outcome.reason else "")
                )
                result.files.append(outcome)
        finally:  # dbt reads the export: it holds every file that landed, whatever stopped the run
            ledger.remember_shas(con, run.hashed)
            ledger.export(con)
    return result
