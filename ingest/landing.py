"""One file's way through ingest. A `Landing` holds the file, its department, dataset and contract,
and the run it belongs to (`IngestRun`: data dir, run id, ledger); `land()` reads it into bronze and
the ledger, or rejects it with a report. The drop-zone loop, the backfill and `ntm check` all go
through it, and the file's ledger entry is built in one place (`Landing.entry`)."""

from __future__ import annotations

import hashlib
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingest.bulk import ingest_bulk, start_loading_units
from ingest.contract import Contract, all_contracts
from ingest.formats import STREAMED
from ingest.problems import Issue, Unreadable, file_issue
from ingest.readers import read_file
from ingest.report import write_report
from ingest.safety import (
    check_before_reading,
    check_content,
    control_character_at,
    first_control_byte,
    shown_name,
)
from ingest.store import (
    Ledger,
    Replacement,
    Supersession,
    hash_and_find,
    keep_original,
    original_path,
    sha256_of,
    write_bronze,
)
from ingest.table import FileReading, hold_back_duplicate_keys, parse_file, sheet_note
from ingest.units.rows import resolve_records
from ingest.workbooks import one_visible_sheet
from ntm_core.departments import departments
from ntm_core.fingerprints import unchanged_since
from ntm_core.log import log
from ntm_core.settings import bulk_threshold_bytes, bulk_workbook_threshold_bytes

# A file still being copied is left for the next run: it must be this many seconds old.
SETTLE_SECONDS = 2.0


@dataclass
class FileOutcome:
    department: str
    dataset: str
    file_name: str
    status: str  # landed | partly_landed | rejected | unchanged | duplicate | not_ready
    rows_landed: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    report: str | None = None
    columns_read: list[str] = field(default_factory=list)  # the contract columns the file's header gave
    columns_not_recognised: list[str] = field(default_factory=list)  # headers that match no column


@dataclass
class IngestRun:
    """What every file of one run shares: where the lakehouse is, the run's id, the open ledger, and
    the units already resolved (monthly files name the same communes again)."""

    data_dir: Path
    run_id: str
    ledger: Ledger
    con: duckdb.DuckDBPyConnection
    unit_answers: dict = field(default_factory=dict)
    # The ledger's file_stats, read once per run, and the drop-zone files this run hashed (written
    # back when it ends: one statement, not one per file).
    file_stats: dict | None = None
    hashed: list = field(default_factory=list)

    def sha_by_stat(self, path: Path) -> str | None:
        """The sha256 of a drop-zone file read before and not written since, else None."""
        if self.file_stats is None:
            self.file_stats = self.ledger.file_stats(self.con)
        known = self.file_stats.get(str(path.absolute()))
        return known[3] if known and known[:3] == unchanged_since(path.stat()) else None

    def landing(
        self, path: Path, department: str, dataset: str, report_dir: Path, received_at: datetime | None = None
    ) -> Landing:
        contract = all_contracts().get(dataset)
        return Landing(path, department, dataset, contract, self, report_dir, received_at)


@dataclass
class Landing:
    """One file of a run. With `received_at`, the file is a kept original read again (a backfill): it
    is read even though its bytes are known, and keeps its place in time."""

    path: Path
    department: str
    dataset: str
    contract: Contract | None
    run: IngestRun
    report_dir: Path
    received_at: datetime | None = None
    outcome: FileOutcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = FileOutcome(self.department, self.dataset, self.path.name, "rejected")

    @property
    def ledger(self) -> Ledger:
        return self.run.ledger

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.run.con

    def entry(self, sha: str, **more) -> dict:
        """The file's ledger entry (its fate is added where it is recorded)."""
        entry = dict(
            sha256=sha,
            department=self.department,
            dataset=self.dataset,
            file_name=self.path.name,
            size_bytes=self.path.lstat().st_size,
            run_id=self.run.run_id,
            **more,
        )
        if self.received_at is not None:
            entry["received_at"] = self.received_at
        return entry

    def land(self) -> FileOutcome:
        """Read the file into bronze and the ledger. Whatever goes wrong while reading it ends as this
        file's rejection, never the run's."""
        try:
            return self._land()
        except Exception as err:  # noqa: BLE001 - the one place an unforeseen failure becomes a report
            log(
                f"ingest: {shown_name(self.department)}/{shown_name(self.dataset)}/{shown_name(self.path.name)}: "
                f"could not be read:\n{traceback.format_exc()}"
            )
            return self._reject_unforeseen(err)

    def _unread_sha(self) -> str:
        """The ledger key of a file not read at all (a link, an empty file, a dangerous name): its name."""
        return hashlib.sha256(f"unread:{self.department}/{self.dataset}/{self.path.name}".encode()).hexdigest()

    def _reject_unforeseen(self, err: Exception) -> FileOutcome:
        """The rejection of a file that failed in a way no check foresaw: the department gets the
        reason in plain words; the engineer the traceback in the log."""
        self.outcome = FileOutcome(self.department, self.dataset, self.path.name, "rejected")
        try:
            sha = sha256_of(self.path)
        except OSError:
            sha = self._unread_sha()
        if self.ledger.seen(self.con, self.department, self.dataset, sha):
            self.outcome.status = "unchanged"
            return self.outcome
        detail = f"{type(err).__name__}: {str(err)[:200]}"
        issue = Issue(
            None,
            None,
            None,
            f"Không đọc được tệp ({detail})",
            f"The file could not be read ({detail})",
            "Mở tệp bằng Excel, lưu lại dạng .xlsx hoặc CSV UTF-8 rồi gửi lại; nếu vẫn lỗi, báo cho nhóm dữ liệu",
            "Open the file in Excel, save it again as .xlsx or CSV UTF-8 and drop it again; "
            "if it fails again, tell the data team",
        )
        return self.reject(self.entry(sha), [issue])

    def _land(self) -> FileOutcome:
        path, outcome = self.path, self.outcome
        if self.received_at is None and time.time() - path.lstat().st_mtime < SETTLE_SECONDS:
            outcome.status = "not_ready"
            return outcome
        try:
            check_before_reading(path)
        except Unreadable as bad:
            sha = self._unread_sha()
            if self.ledger.seen(self.con, self.department, self.dataset, sha):
                outcome.status = "unchanged"
                return outcome
            return self.reject(self.entry(sha), [file_issue(bad)])
        if self.received_at is None and (known := self._known_by_stat()) is not None:
            return known
        status = path.stat()  # before reading: a write while it is hashed makes the next run hash it again
        large = self.contract is not None and _large(path)
        units_loading = start_loading_units(self.contract) if large else None
        # A large CSV is searched for control characters while it is hashed (the second core is idle
        # then); a small one is searched as text once decoded (readers.read_csv, read_json), a workbook
        # cell by cell.
        scan = large and path.suffix.lower() not in STREAMED and not _starts_utf16(path)
        sha, control_at = hash_and_find(path, first_control_byte if scan else None)
        if self.received_at is None:
            self.run.hashed.append((path, status, sha))
            previous = self.ledger.seen(self.con, self.department, self.dataset, sha)
        else:  # a backfill re-read: the earlier reading of these bytes stops counting
            previous = None
            self.ledger.retire_reading(self.con, self.department, self.dataset, sha)
        if previous:
            return self._known_bytes(previous, sha)
        entry = self.entry(sha, raw_path=str(original_path(path, sha, self.run.data_dir)))
        if (misplaced := _folder_problem(self.department, self.dataset, self.contract)) is not None:
            keep_original(path, sha, self.run.data_dir)
            return self.reject(entry, [misplaced])
        if control_at is not None:
            keep_original(path, sha, self.run.data_dir)
            return self.reject(entry, [_control_issue(path, control_at)])
        if large:
            return self._read_bulk(entry, units_loading)
        keep_original(path, sha, self.run.data_dir)
        return self._read_rows(entry)

    def _known_by_stat(self) -> FileOutcome | None:
        """A file this ledger read before and that was not written since: what its bytes got then."""
        sha = self.run.sha_by_stat(self.path)
        previous = self.ledger.seen(self.con, self.department, self.dataset, sha) if sha else None
        return self._known_bytes(previous, sha) if previous else None

    def _known_bytes(self, previous: dict, sha: str) -> FileOutcome:
        """Same bytes again: nothing changes (a copy under another name is noted once)."""
        outcome = self.outcome
        outcome.status = "unchanged" if previous["file_name"] == self.path.name else "duplicate"
        if outcome.status == "duplicate" and not self.ledger.has_name(self.con, self.department, sha, self.path.name):
            self.ledger.record(
                self.con,
                **self.entry(sha),
                status="duplicate",
                reason=f"same content as {previous['file_name']}",
            )
        return outcome

    def _read_rows(self, entry: dict) -> FileOutcome:
        """The row path: the file read whole, each row against the contract, units resolved, repeats
        held back."""
        contract, path = self.contract, self.path
        try:
            check_content(path)
            parsed = parse_file(read_file(path), contract, path)
        except Unreadable as bad:
            return self.reject(entry, [file_issue(bad)])
        if contract.unit_levels and "unit_name" in contract.column_names:
            parsed.records, unresolved = resolve_records(
                parsed.records, self.department, contract.unit_levels, self.run.unit_answers
            )
            parsed.issues.extend(unresolved)
        hold_back_duplicate_keys(parsed, contract.keys)
        parsed.issues.sort(key=lambda i: (i.sheet or "", i.row or 0))  # row order, as the bulk path lists them
        reading = FileReading(
            len(parsed.records),
            len({(i.sheet, i.row) for i in parsed.issues}),
            parsed.issues,
            None,
            file_period(parsed.records, contract),
            notes=parsed.notes,
            columns_read=parsed.columns_read,
            columns_not_recognised=parsed.columns_not_recognised,
        )
        if not parsed.records or (parsed.issues and contract.bad_rows == "reject_file"):
            reading.rows_landed, reading.period = 0, "all"
            return self.finish(entry, reading)
        reading.bronze = write_bronze(
            contract,
            parsed.records,
            department=self.department,
            source_file=path.name,
            sha=entry["sha256"],
            run_id=self.run.run_id,
            data_dir=self.run.data_dir,
        )
        return self.finish(entry, reading)

    def _read_bulk(self, entry: dict, units_loading) -> FileOutcome:
        """The DuckDB path for large CSVs and workbooks: same contract, same ledger and reports, bounded
        memory. A workbook with several visible sheets takes the row path (each sheet is read)."""
        path, data_dir = self.path, self.run.data_dir
        failure, sheets = None, None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keep-original") as pool:
            # The original is copied while DuckDB reads it; the ledger is written only once it is kept.
            copying = pool.submit(keep_original, path, entry["sha256"], data_dir)
            try:
                check_content(path)
                sheets = one_visible_sheet(path) if path.suffix.lower() in STREAMED else (None, [])
                if sheets is not None:
                    result = ingest_bulk(
                        path,
                        self.contract,
                        department=self.department,
                        sha=entry["sha256"],
                        run_id=self.run.run_id,
                        data_dir=data_dir,
                        units_loading=units_loading,
                        sheet=sheets[0],
                    )
                    result.notes[:0] = [sheet_note(hidden, None) for hidden in sheets[1]]
            except (Unreadable, duckdb.Error) as bad:
                failure = bad
        copying.result()
        if failure is None and sheets is None:
            return self._read_rows(entry)
        if failure is not None:
            issue = (
                failure
                if isinstance(failure, Unreadable)
                else Unreadable(
                    f"Tệp CSV không đọc được: {failure}",
                    f"The CSV file cannot be read: {failure}",
                    "Kiểm tra dấu phân cách và dấu ngoặc kép",
                    "Check the separators and quotes",
                )
            )
            return self.reject(entry, [file_issue(issue)])
        return self.finish(entry, result)

    def finish(self, entry: dict, reading: FileReading) -> FileOutcome:
        """The one landing tail of both paths: the file lands (whole or in part) with its report, or is
        rejected with it; the ledger records which."""
        outcome = self.outcome
        if reading.rows_landed and reading.rows_held_back and self.contract.bad_rows == "reject_file":
            for part in reading.bronze.parent.glob(f"{self.department}__{entry['sha256'][:16]}*.parquet"):
                part.unlink()  # this dataset takes a file whole or not at all
            reading.rows_landed = 0
        if not reading.rows_landed:
            return self.reject(entry, reading.issues or [NO_DATA_ROWS], reading)
        outcome.status = "partly_landed" if reading.rows_held_back else "landed"
        outcome.rows_landed, outcome.rows_quarantined = reading.rows_landed, reading.rows_held_back
        outcome.columns_read, outcome.columns_not_recognised = reading.columns_read, reading.columns_not_recognised
        return self._record_landed(entry, reading)

    def _record_landed(self, entry: dict, reading: FileReading) -> FileOutcome:
        """Record a landed file. Key by key, it replaces the rows of files received before it; its rows
        whose keys a file received after it holds do not count (a backfill's reading). Its report (rows
        held back, notes, and how many rows of which file it replaced) is written once that is known."""
        outcome = self.outcome
        change = self.ledger.land(
            self.con,
            **entry,
            period=reading.period,
            status=outcome.status,
            rows_landed=outcome.rows_landed,
            rows_quarantined=outcome.rows_quarantined,
            bronze_path=str(reading.bronze),
        )
        reading.notes = [*reading.notes, *_replacement_notes(change, self.contract, self.department)]
        if reading.issues or reading.notes:
            outcome.report = self._write_report(entry, outcome.status, reading.issues, reading)
            self.ledger.attach_report(
                self.con, self.department, self.dataset, entry["sha256"], entry["run_id"], outcome.report
            )
        return outcome

    def reject(self, entry: dict, issues: list[Issue], reading: FileReading | None = None) -> FileOutcome:
        """The file lands nothing: its report says why, the ledger records it as rejected."""
        outcome = self.outcome
        try:
            outcome.report = self._write_report(entry, "rejected", issues, reading)
        except OSError as err:  # the rejection is recorded even where its report cannot be written
            log(f"ingest: {shown_name(entry['file_name'])}: the report could not be written: {err}")
        outcome.reason = f"{issues[0].vi} / {issues[0].en}"
        if reading is not None:
            outcome.columns_read, outcome.columns_not_recognised = reading.columns_read, reading.columns_not_recognised
        outcome.rows_quarantined = reading.rows_held_back if reading else len({i.row for i in issues if i.row})
        self.ledger.record(
            self.con,
            **entry,
            status="rejected",
            rows_landed=0,
            rows_quarantined=outcome.rows_quarantined,
            reason=outcome.reason,
            report_path=outcome.report,
        )
        return outcome

    def _write_report(self, entry: dict, status: str, issues: list[Issue], reading: FileReading | None) -> str:
        """The file's report; a rejected file's lists the headers its dataset accepts."""
        rejected = status == "rejected" and self.contract is not None
        return str(
            write_report(
                report_dir=self.report_dir,
                file_name=entry["file_name"],
                department=self.department,
                dataset=self.dataset,
                sha=entry["sha256"],
                status=status,
                issues=issues,
                accepted_rows=reading.rows_landed if reading and status != "rejected" else 0,
                accepted_headers={c.name: list(c.aliases) for c in self.contract.columns} if rejected else None,
                per_column=reading.problems_per_column if reading else None,
                notes=reading.notes if reading else None,
                columns=_columns_of(reading) if reading else None,
            )
        )


def _folder_problem(department: str, dataset: str, contract: Contract | None) -> Issue | None:
    """A file lands only in the folder of a registered department and of a registered dataset, and
    only from a department its contract lets send it (`senders`)."""
    if department not in departments():
        return Issue(
            None,
            None,
            department,
            f"Thư mục '{department}' không phải đơn vị gửi số liệu đã đăng ký",
            f"Folder '{department}' is not a registered department",
            "Đặt tệp vào thư mục của đơn vị mình (tên theo quy tắc trong ingest/departments.yaml); đơn vị mới "
            "được đăng ký bằng `ntm departments add` hoặc một dòng trong tệp NTM_DEPARTMENTS",
            "Put the file in your department's folder (named by the rule in ingest/departments.yaml); a new "
            "department is registered with `ntm departments add` or one line in the NTM_DEPARTMENTS file",
        )
    if contract is not None and contract.senders and departments()[department]["kind"] not in contract.senders["kinds"]:
        allowed = ", ".join(n for n, d in departments().items() if d["kind"] in contract.senders["kinds"])
        why = contract.senders.get("reason") or {}
        return Issue(
            None,
            None,
            department,
            f"Đơn vị '{department}' không được gửi bộ dữ liệu '{dataset}': {why.get('vi', '')}",
            f"Department '{department}' may not send dataset '{dataset}': {why.get('en', '')}",
            f"Bộ dữ liệu này do {allowed} gửi; không gửi lại từ thư mục này",
            f"This dataset is sent by {allowed}; do not send it again from this folder",
        )
    if contract is None:
        known = ", ".join(sorted(all_contracts()))
        return Issue(
            None,
            None,
            dataset,
            f"Thư mục '{dataset}' không phải bộ dữ liệu đã đăng ký",
            f"Folder '{dataset}' is not a registered dataset",
            f"Đặt tệp vào thư mục của một bộ dữ liệu: {known}",
            f"Put the file in a dataset folder: {known}",
        )
    return None


def _control_issue(path: Path, offset: int) -> Issue:
    try:
        check_content(path)  # binary junk is told as such first, as on the row path
        return file_issue(control_character_at(path, offset))
    except Unreadable as head:
        return file_issue(head)


NO_DATA_ROWS = Issue(
    None,
    None,
    None,
    "Tệp không có dòng số liệu nào",
    "The file has no data rows",
    "Điền số liệu vào biểu mẫu",
    "Fill in the form's data rows",
)


def _starts_utf16(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _key_words(contract: Contract, lang: str) -> str:
    """The contract's key columns in words ("Mã hồ sơ"; "Administrative unit code, Reference year")."""
    return ", ".join((contract.column(k).description.get(lang) or k).split("(")[0].strip() for k in contract.keys)


def _replacement_notes(change: Supersession, contract: Contract, department: str) -> list[Issue]:
    """The report's lines on what a landed file replaced: how many rows of which earlier file, and
    how many of its own rows a file received later replaces (a backfill's reading)."""
    keys, keys_vi, keys_en = ", ".join(contract.keys), _key_words(contract, "vi"), _key_words(contract, "en")

    def named(other: Replacement) -> tuple[str, str, str]:
        when = other.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        elsewhere = other.department != department
        return (
            f"{other.rows} {'row' if other.rows == 1 else 'rows'}",
            f"{shown_name(other.file_name)}{f' của {other.department}' if elsewhere else ''} (nhận lúc {when})",
            f"{shown_name(other.file_name)}{f' from {other.department}' if elsewhere else ''} (received {when})",
        )

    notes = []
    for other in change.replaced:
        rows, vi, en = named(other)
        whole_vi, whole_en = ("toàn bộ ", ", every row of it that still counted") if other.whole else ("", "")
        notes.append(
            Issue(
                None,
                keys,
                shown_name(other.file_name),
                f"Tệp này thay thế {whole_vi}{other.rows} dòng của tệp {vi}: các dòng có cùng {keys_vi}",
                f"This file replaced {rows} of {en}{whole_en}: the rows with the same {keys_en}",
                "Không cần làm gì nếu đây là số liệu sửa"
                + ("" if other.whole else "; các dòng khác của tệp đó vẫn được dùng")
                + f". Nếu không phải, kiểm tra {keys_vi} của các dòng này",
                "Nothing to do if these are corrections"
                + ("" if other.whole else "; that file's other rows still count")
                + f". If they are not, check these rows' {keys_en}",
            )
        )
    for other in change.replaced_by:
        rows, vi, en = named(other)
        notes.append(
            Issue(
                None,
                keys,
                shown_name(other.file_name),
                f"{other.rows} dòng của tệp này không được dùng: tệp {vi}, nhận sau, có các dòng cùng {keys_vi}",
                f"{rows} of this file do not count: {en}, received later, has rows with the same {keys_en}",
                "Không cần làm gì: số liệu của tệp nhận sau được dùng",
                "Nothing to do: the figures of the file received later count",
            )
        )
    return notes


def _large(path: Path) -> bool:
    """A file for the DuckDB path: a large CSV, or a large Excel workbook (streamed into a CSV)."""
    suffix, size = path.suffix.lower(), path.stat().st_size
    if suffix in STREAMED:
        return size >= bulk_workbook_threshold_bytes()
    return suffix in (".csv", ".txt") and size >= bulk_threshold_bytes()


def file_period(records: list[dict], contract: Contract) -> str:
    """The period a file covers ("2023", "2024-Q1", "2024-01", or a range), kept in the ledger (the
    freshness of a department's data); what a newer file replaces is decided by keys (`Ledger.land`)."""
    column = contract.period.get("column", "year")
    values = sorted(
        {
            str(v)[:7] if contract.period.get("kind") == "month" else str(v)
            for v in (r.get(column) for r in records)
            if v is not None
        }
    )
    if not values:
        return "all"
    return values[0] if len(values) == 1 else f"{values[0]}..{values[-1]}"


def _columns_of(reading: FileReading) -> dict[str, list[str]]:
    return {"read": reading.columns_read, "not_recognised": reading.columns_not_recognised}
