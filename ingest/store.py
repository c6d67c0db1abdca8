"""Storage that loses nothing: original bytes by sha256, bronze Parquet with lineage, the ledger.

Layout under the data directory:
  raw/<sha[:2]>/<sha256>/<original file name>   the bytes as received, never rewritten
  bronze/<dataset>/<department>__<sha[:16]>.parquet   typed rows + lineage columns (a large CSV
      adds <department>__<sha[:16]>-<n>.parquet, a file per 512 MB segment: see ingest.bulk)
  bronze/<dataset>/empty.parquet   the contract's schema with no rows, so readers never see "no files"
      (not `_empty`: Spark, Hive and Trino skip files whose names start with `_` or `.`)
  ledger.duckdb (table `files`) and ledger.parquet (its export, read by dbt)
"""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.contract import Contract, all_contracts
from ntm_core.fingerprints import unchanged_since
from ntm_core.settings import DBT_SEEDS, duckdb_memory

ARROW_TYPES = {
    "text": pa.string(),
    "code": pa.string(),
    "number": pa.float64(),
    "percent": pa.float64(),
    "integer": pa.int64(),
    "year": pa.int32(),
    "status": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "period": pa.string(),
}
LINEAGE = [
    ("_department", pa.string()),
    ("_source_file", pa.string()),
    ("_sha256", pa.string()),
    ("_row_number", pa.int64()),
    ("_ingested_at", pa.timestamp("us", tz="UTC")),
    ("_run_id", pa.string()),
    ("_sheet", pa.string()),  # a workbook's sheet the row came from (null for CSV and JSON)
]

# Every status a file's ledger entry can end in, defined here only: dbt reads them from the seed
# `lakehouse/ledger_statuses.csv`, written from this table (`ntm seeds`; a test checks they agree).
# (status, rows current, meaning in Vietnamese, meaning in English)
LEDGER_STATUSES = (
    ("landed", True, "Đã nhận toàn bộ", "Every row landed"),
    ("partly_landed", True, "Đã nhận một phần, các dòng lỗi bị giữ lại", "Landed; some rows were held back"),
    ("rejected", False, "Bị từ chối, không dòng nào được nhận", "Rejected: no row landed"),
    (
        "superseded",
        False,
        "Mọi dòng đã được thay bằng tệp nhận sau (cùng khóa)",
        "Every row replaced by a file received later (same keys)",
    ),
    ("duplicate", False, "Trùng nội dung với tệp đã nhận", "Same content as a file already received"),
    (
        "reprocessed",
        False,
        "Đã được đọc lại (backfill); lần đọc mới thay thế",
        "Read again in a backfill; the new reading replaces it",
    ),
)
CURRENT_STATUSES = tuple(s for s, current, *_ in LEDGER_STATUSES if current)
READ_AGAIN_STATUSES = (*CURRENT_STATUSES, "rejected")  # what a backfill reads again
STATUS_SEED = DBT_SEEDS / "lakehouse" / "ledger_statuses.csv"


def write_status_seed(path: Path = STATUS_SEED) -> Path:
    """The dbt seed of ledger statuses, from LEDGER_STATUSES."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["status", "is_current", "meaning_vi", "meaning_en"])
        writer.writerows((s, str(c).lower(), vi, en) for s, c, vi, en in LEDGER_STATUSES)
    return path


LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS files (
    sha256          VARCHAR NOT NULL,
    department      VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,
    file_name       VARCHAR NOT NULL,
    size_bytes      BIGINT,
    period          VARCHAR,
    status          VARCHAR NOT NULL,  -- one of LEDGER_STATUSES
    rows_landed     BIGINT,
    rows_quarantined BIGINT,
    reason          VARCHAR,
    raw_path        VARCHAR,
    bronze_path     VARCHAR,
    report_path     VARCHAR,
    received_at     TIMESTAMPTZ NOT NULL,
    run_id          VARCHAR NOT NULL,
    superseded_by   VARCHAR,
    rows_current    BIGINT
)
"""
# The sha256 of each drop-zone file read, by what `stat` says of it (fingerprints.unchanged_since):
# a file not written since is not hashed again (every run would read the whole drop zone, its
# history included).
FILE_STATS_DDL = """
CREATE TABLE IF NOT EXISTS file_stats (
    path        VARCHAR PRIMARY KEY,
    size_bytes  BIGINT NOT NULL,
    mtime_ns    BIGINT NOT NULL,
    ctime_ns    BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL
)
"""
# Columns added since the first ledgers: a ledger written before gains them when opened.
LEDGER_ADDED = ("ALTER TABLE files ADD COLUMN IF NOT EXISTS rows_current BIGINT",)
# The hashes of the keys of each current file of at most KEY_INDEX_MAX_ROWS rows: a landing file of
# that size reads the bronze of only the files that share a key with it, and of every larger file,
# not of every current file (that grew with every file received). Larger files are few, and their
# keys cost more to index than to read.
KEY_INDEX_MAX_ROWS = 100_000
FILE_KEYS_DDL = """
CREATE OR REPLACE TABLE file_keys (
    dataset     VARCHAR NOT NULL,
    department  VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    key_hash    UBIGINT NOT NULL
)
"""


HASH_WINDOW = 64 << 20


def sha256_of(path: Path) -> str:
    return hash_and_find(path)[0]


def hash_and_find(path: Path, find: Callable[[mmap.mmap], int | None] | None = None) -> tuple[str, int | None]:
    """The file's sha256, read through 64 MB memory-mapped windows: no copy into Python (a third
    faster on large files), and no more of the file mapped at once than one window. With `find`,
    each window is also searched (in a second thread, while it is hashed: both let go of Python's
    lock), and the offset of the first hit in the file comes back too."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    found = None
    with open(path, "rb") as f, ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan") as pool:
        for offset in range(0, size, HASH_WINDOW):
            with mmap.mmap(
                f.fileno(), min(HASH_WINDOW, size - offset), offset=offset, access=mmap.ACCESS_READ
            ) as window:
                searching = pool.submit(find, window) if find and found is None else None
                digest.update(window)
                if searching is not None and (hit := searching.result()) is not None:
                    found = offset + hit
    return digest.hexdigest(), found


def original_path(path: Path, sha: str, data_dir: Path) -> Path:
    """Where the original bytes of `path` are kept: under their sha256, read-only."""
    from ingest.safety import stored_name

    return data_dir / "raw" / sha[:2] / sha / stored_name(path.name)


def keep_original(path: Path, sha: str, data_dir: Path) -> Path:
    target = original_path(path, sha, data_dir)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.rename(target)
        target.chmod(0o444)
    return target


def scratch_dir(data_dir: Path) -> Path:
    """A temporary folder of this process (DuckDB's spill files, converted copies), under
    `<data dir>/tmp/<pid>-…`: what a killed run leaves there is removed by the next (clean_leftovers)."""
    import tempfile

    root = data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))


def clean_leftovers(data_dir: Path) -> list[Path]:
    """Remove what a killed run left: scratch folders of processes that are gone, and the `.part`
    files written under a name no reader globs (bronze, kept originals, reports are renamed only
    once complete). Called with the ledger open, so no other ingest is writing."""
    import shutil

    removed = []
    for folder in sorted((data_dir / "tmp").glob("*-*")):
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for area in ("bronze", "raw"):
        for part in (data_dir / area).rglob("*.part"):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def bronze_schema(contract: Contract) -> pa.Schema:
    resolved = [("unit_level", pa.string()), ("unit_list_version", pa.string())] if contract.unit_levels else []
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in contract.stored_columns] + resolved + LINEAGE)


def ensure_empty_bronze(contract: Contract, data_dir: Path) -> None:
    """The contract's schema with no rows; written again when the contract gained or lost a column
    (dbt reads the union of the files by name, and a column only the contract knows must be there)."""
    path, schema = data_dir / "bronze" / contract.id / "empty.parquet", bronze_schema(contract)
    (path.parent / "_empty.parquet").unlink(missing_ok=True)  # its name before Spark read the lake
    if not path.exists() or not pq.read_schema(path).equals(schema, check_metadata=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(schema.empty_table(), path)


def write_bronze(
    contract: Contract,
    records: list[dict[str, Any]],
    *,
    department: str,
    source_file: str,
    sha: str,
    run_id: str,
    data_dir: Path,
) -> Path:
    now = datetime.now(UTC)
    schema = bronze_schema(contract)
    columns: dict[str, list] = {name: [] for name in schema.names}
    for record in records:
        for name in schema.names:
            if not name.startswith("_"):
                columns[name].append(record.get(name))
        columns["_department"].append(department)
        columns["_source_file"].append(source_file)
        columns["_sha256"].append(sha)
        columns["_row_number"].append(record["_row_number"])
        columns["_ingested_at"].append(now)
        columns["_run_id"].append(run_id)
        columns["_sheet"].append(record.get("_sheet"))
    path = data_dir / "bronze" / contract.id / f"{bronze_stem(department, sha)}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.part")
    pq.write_table(pa.table(columns, schema=schema), tmp)
    tmp.rename(path)  # readers see the whole file or none of it
    return path


def current_key(contract: Contract) -> list[str]:
    """The key by which a later file replaces an earlier file's rows, as SQL over a bronze file:
    the contract's keys, the reported unit code standing for the unit resolved at ingest (list
    version, level, code: dbt's `unit_key`). dbt's current models partition by the same key
    (`current_rows`, dbt_project/macros/lineage.sql; tests/test_ingest_supersession.py checks)."""
    return [
        "unit_list_version || ':' || unit_level || ':' || unit_code"
        if key == "unit_code" and contract.unit_levels
        else f'"{key}"'
        for key in contract.keys
    ]


def _key_expression(contract: Contract) -> tuple[str, str, bool]:
    """`current_key` as one value to rank by, its 64-bit hash to look for shared keys with (small
    whatever the key), and whether it is a single column. The value is a struct (whose fields
    compare equal when both are null, as dbt's partitions do), or the column itself for one
    required key (faster, and Parquet's statistics skip row groups outside a range of it)."""
    keys = current_key(contract)
    hashed = f"hash({', '.join(keys)})"
    if len(keys) == 1 and contract.column(contract.keys[0]).required:
        return keys[0], hashed, True
    return "struct_pack(" + ", ".join(f"k{i} := {expr}" for i, expr in enumerate(keys)) + ")", hashed, False


def _shared_keys(rows: str, single: bool) -> str:
    """The rows to rank when one file (`$mine`) lands: those of the keys it shares with the other
    current files (`$others`), from both sides, found by the keys' hashes (the ranking compares
    the keys themselves)."""
    in_range = "row_key BETWEEN $low AND $high AND " if single else ""
    return f"""
                mine AS ({rows.format("$mine")}),
                others AS (
                    SELECT * FROM ({rows.format("$others")})
                    WHERE {in_range}key_hash IN (SELECT key_hash FROM mine)
                ),
                candidates AS (
                    SELECT * FROM others UNION ALL SELECT * FROM mine WHERE key_hash IN (SELECT key_hash FROM others)
                )"""


def _own_keys() -> str:
    """The keys of the landing file that no other current file holds: its rows count, none after them."""
    return """
            UNION ALL
            SELECT $department, $sha, NULL, NULL, count(DISTINCT key_hash) FROM mine
            WHERE key_hash NOT IN (SELECT key_hash FROM others)"""


def bronze_stem(department: str, sha: str) -> str:
    """A file's bronze name without its segment number and suffix: `<department>__<sha[:16]>`."""
    return f"{department}__{sha[:16]}"


def _indexed(rows: int | None) -> bool:
    """Whether a landed file of `rows` rows has its keys in `file_keys`."""
    return rows is not None and rows <= KEY_INDEX_MAX_ROWS


@dataclass(frozen=True)
class Replacement:
    """`rows` rows of one file (by department and sha256) that another file holds under the same keys
    (`whole`: every row of it that still counted, so the file is superseded)."""

    department: str
    sha256: str
    file_name: str
    received_at: datetime
    rows: int
    whole: bool = False


@dataclass
class Supersession:
    """What a file's landing changed: its status in the ledger and how many of its rows count, the
    earlier files whose rows it replaced, and the later files (a backfill's reading) holding keys
    of its own, whose rows count instead of its."""

    status: str
    rows_current: int
    replaced: list[Replacement]
    replaced_by: list[Replacement]


@dataclass
class Ledger:
    """Every file received, one row per file event in the table `files` (LEDGER_DDL).

    A landed file replaces the rows of files received before it key by key (`current_key`), across
    the dataset: their rows that it repeats stop counting, their other rows still count.
    `rows_current` is how many of a file's rows count (0 once the file does not count); a file left
    with none is `superseded`. `superseded_by` is the sha256 of the last file that replaced rows of
    this one (every row when it is superseded, some when it still counts). Of the rows of one key,
    the row of the file received last counts (`received_at`: a backfill's reading keeps its file's
    place in time, so it never displaces a correction received after it), then the later reading,
    then the first row: the order of dbt's `latest_first` (dbt_project/macros/lineage.sql)."""

    data_dir: Path

    @property
    def path(self) -> Path:
        return self.data_dir / "ledger.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        # Comparing a large file's keys with the current rows spills to ledger.duckdb.tmp/ beyond it.
        con.execute(f"SET memory_limit = '{duckdb_memory()}'")
        con.execute(LEDGER_DDL)
        con.execute(FILE_STATS_DDL)
        for statement in LEDGER_ADDED:
            con.execute(statement)
        self._count_uncounted(con)
        self._index_keys_once(con)
        return con

    def seen(self, con, department: str, dataset: str, sha: str) -> dict | None:
        row = con.execute(
            "SELECT file_name, status FROM files WHERE department = ? AND dataset = ? AND sha256 = ? "
            "ORDER BY received_at LIMIT 1",
            [department, dataset, sha],
        ).fetchone()
        return {"file_name": row[0], "status": row[1]} if row else None

    def file_stats(self, con) -> dict[str, tuple[int, int, int, str]]:
        """Drop-zone path -> (size, modification and change times, sha256) of each file read (FILE_STATS_DDL)."""
        return {path: tuple(rest) for path, *rest in con.execute("SELECT * FROM file_stats").fetchall()}

    def remember_shas(self, con, hashed: list[tuple[Path, os.stat_result, str]]) -> None:
        """Each (path, stat taken before reading it, sha256 of what was read), in one statement."""
        for start in range(0, len(hashed), 1000):
            chunk = hashed[start : start + 1000]
            con.execute(
                "INSERT OR REPLACE INTO file_stats VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                [v for path, status, sha in chunk for v in (str(path.absolute()), *unchanged_since(status), sha)],
            )

    def has_name(self, con, department: str, sha: str, file_name: str) -> bool:
        """Whether these bytes were already noted under this name."""
        return (
            con.execute(
                "SELECT 1 FROM files WHERE sha256 = ? AND file_name = ? AND department = ?",
                [sha, file_name, department],
            ).fetchone()
            is not None
        )

    def record(self, con, **entry: Any) -> None:
        entry.setdefault("received_at", datetime.now(UTC))
        entry.setdefault("rows_current", entry.get("rows_landed") if entry.get("status") in CURRENT_STATUSES else 0)
        cols = ", ".join(entry)
        marks = ", ".join("?" for _ in entry)
        con.execute(f"INSERT INTO files ({cols}) VALUES ({marks})", list(entry.values()))

    def land(self, con, **entry: Any) -> Supersession:
        """Record a landed file and what it replaces (`supersede`), in one transaction."""
        con.begin()
        try:
            self.record(con, **entry)
            self._index_keys(con, entry["dataset"], entry["department"], entry["sha256"], entry["rows_landed"])
            change = self.supersede(con, entry["department"], entry["dataset"], entry["sha256"])
        except BaseException:
            con.rollback()
            raise
        con.commit()
        return change

    def supersede(self, con, department: str, dataset: str, sha: str) -> Supersession:
        """The file just recorded replaces, key by key, the rows that counted of files received
        before it: their `rows_current` go down, and a file left with none is `superseded`. Its own
        rows whose keys a file received after it holds do not count (a backfill's reading); left
        with none, it is `superseded` itself."""
        me = (department, sha)
        replaced: Counter = Counter()
        replaced_by: Counter = Counter()
        rows_current = 0
        for winner_department, winner_sha, next_department, next_sha, keys in self._winners(con, dataset, me):
            if (winner_department, winner_sha) != me:
                replaced_by[winner_department, winner_sha] += keys
                continue
            rows_current += keys
            if next_sha is not None and (next_department, next_sha) != me:
                replaced[next_department, next_sha] += keys
        files = self._current_files(con, dataset, {*replaced, *replaced_by})  # before any of them is superseded
        earlier = []
        for (other_department, other_sha), rows in replaced.items():
            (left,) = con.execute(
                "UPDATE files SET rows_current = rows_current - ?, superseded_by = ?, "
                "status = CASE WHEN rows_current > ? THEN status ELSE 'superseded' END "
                "WHERE dataset = ? AND department = ? AND sha256 = ? AND list_contains(?, status) RETURNING status",
                [rows, sha, rows, dataset, other_department, other_sha, list(CURRENT_STATUSES)],
            ).fetchone()
            owner = (other_department, other_sha)
            if left == "superseded":
                self._forget_keys(con, dataset, *owner)
            earlier.append(Replacement(*owner, *files[owner], rows, whole=left == "superseded"))
        later = [Replacement(*owner, *files[owner], rows) for owner, rows in replaced_by.items()]
        earlier.sort(key=lambda r: r.received_at, reverse=True)
        later.sort(key=lambda r: r.received_at, reverse=True)
        (status,) = con.execute(
            "UPDATE files SET rows_current = ?, superseded_by = ?, "
            "status = CASE WHEN ? > 0 THEN status ELSE 'superseded' END "
            "WHERE dataset = ? AND department = ? AND sha256 = ? AND list_contains(?, status) RETURNING status",
            [
                rows_current,
                later[0].sha256 if later else None,
                rows_current,
                dataset,
                department,
                sha,
                list(CURRENT_STATUSES),
            ],
        ).fetchone()
        if status == "superseded":
            self._forget_keys(con, dataset, department, sha)
        return Supersession(status, rows_current, earlier, later)

    def retire_reading(self, con, department: str, dataset: str, sha: str) -> None:
        """A file is about to be read again (backfill): its earlier reading stops counting, and the
        rows it replaced in files that still count count again (until the new reading lands)."""
        me = (department, sha)
        con.begin()
        try:
            for winner_department, winner_sha, next_department, next_sha, keys in self._winners(con, dataset, me):
                if (winner_department, winner_sha) == me and next_sha is not None and (next_department, next_sha) != me:
                    con.execute(
                        "UPDATE files SET rows_current = rows_current + ? "
                        "WHERE dataset = ? AND department = ? AND sha256 = ? AND list_contains(?, status)",
                        [keys, dataset, next_department, next_sha, list(CURRENT_STATUSES)],
                    )
            con.execute(
                "UPDATE files SET status = 'reprocessed', rows_current = 0 "
                "WHERE department = ? AND dataset = ? AND sha256 = ? AND list_contains(?, status)",
                [department, dataset, sha, list(READ_AGAIN_STATUSES)],
            )
            self._forget_keys(con, dataset, department, sha)
        except BaseException:
            con.rollback()
            raise
        con.commit()

    def attach_report(self, con, department: str, dataset: str, sha: str, run_id: str, report_path: str) -> None:
        """The report of a file written once the file was recorded (it tells what the file replaced)."""
        con.execute(
            "UPDATE files SET report_path = ? WHERE department = ? AND dataset = ? AND sha256 = ? AND run_id = ? "
            "AND list_contains(?, status)",
            [report_path, department, dataset, sha, run_id, [*CURRENT_STATUSES, "superseded"]],
        )

    def current_rows_by_file(self, con, dataset: str) -> dict[tuple[str, str], int]:
        """(department, sha256) -> how many of the file's rows count, counted again over every
        current row of the dataset: what `supersede` and `retire_reading` keep up file by file."""
        counted: Counter = Counter()
        for department, sha, _, _, keys in self._winners(con, dataset):
            counted[department, sha] += keys
        return dict(counted)

    def _count_uncounted(self, con) -> None:
        """A ledger written before `rows_current` existed: its files' current rows are counted once."""
        con.execute(
            "UPDATE files SET rows_current = 0 WHERE rows_current IS NULL AND NOT list_contains(?, status)",
            [list(CURRENT_STATUSES)],
        )
        for (dataset,) in con.execute("SELECT DISTINCT dataset FROM files WHERE rows_current IS NULL").fetchall():
            for (department, sha), rows in self.current_rows_by_file(con, dataset).items():
                con.execute(
                    "UPDATE files SET rows_current = ? WHERE dataset = ? AND department = ? AND sha256 = ? "
                    "AND list_contains(?, status)",
                    [rows, dataset, department, sha, list(CURRENT_STATUSES)],
                )
            con.execute("UPDATE files SET rows_current = 0 WHERE dataset = ? AND rows_current IS NULL", [dataset])

    def _index_keys_once(self, con) -> None:
        """A ledger written before `file_keys` existed, or whose keys another DuckDB hashed: the keys of
        its current files are indexed (again)."""
        hashed_by = (
            con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'file_keys_hashed_by'").fetchone()
            and con.execute("SELECT duckdb_version FROM file_keys_hashed_by").fetchone()
        )
        if hashed_by == (duckdb.__version__,):
            return
        con.begin()
        try:
            con.execute(FILE_KEYS_DDL)
            # The DuckDB whose hash() wrote them: another version may hash differently.
            con.execute(
                "CREATE OR REPLACE TABLE file_keys_hashed_by AS SELECT CAST(? AS VARCHAR) AS duckdb_version",
                [duckdb.__version__],
            )
            current = con.execute(
                "SELECT dataset, department, sha256, rows_landed FROM files WHERE list_contains(?, status)",
                [list(CURRENT_STATUSES)],
            ).fetchall()
            for dataset, department, sha, rows in current:
                self._index_keys(con, dataset, department, sha, rows)
        except BaseException:
            con.rollback()
            raise
        con.commit()

    def _index_keys(self, con, dataset: str, department: str, sha: str, rows: int | None) -> None:
        """The key hashes of one landed file's bronze, into `file_keys`, when it is small enough."""
        contract = all_contracts().get(dataset)
        if contract is None or not _indexed(rows):
            return
        paths = self._bronze_files(dataset, {(department, sha)})
        if not paths:
            return
        _, key_hash, _ = _key_expression(contract)
        con.execute(
            f"INSERT INTO file_keys SELECT ?, ?, ?, {key_hash} FROM read_parquet(?, union_by_name = true)",
            [dataset, department, sha, paths],
        )

    def _forget_keys(self, con, dataset: str, department: str, sha: str) -> None:
        """A file that no longer counts shares no key with a file landing later."""
        con.execute(
            "DELETE FROM file_keys WHERE dataset = ? AND department = ? AND sha256 = ?", [dataset, department, sha]
        )

    def _others(
        self, con, dataset: str, of: tuple[str, str], landed: dict[tuple[str, str], int | None]
    ) -> set[tuple[str, str]]:
        """(department, sha256) of the other current files (`landed`: `_landed_rows`) that may hold a
        key of the current file `of`: exactly those among the indexed files when its keys are indexed."""
        if not _indexed(landed.get(of)):
            return set(landed) - {of}
        large = {owner for owner, rows in landed.items() if not _indexed(rows)}
        return ((self._sharing(con, dataset, of) & set(landed)) | large) - {of}

    def _sharing(self, con, dataset: str, of: tuple[str, str]) -> set[tuple[str, str]]:
        """(department, sha256) of the other indexed files holding a key (by its hash) that `of` holds."""
        rows = con.execute(
            "SELECT DISTINCT department, sha256 FROM file_keys "
            "WHERE dataset = $dataset AND NOT (department = $department AND sha256 = $sha) AND key_hash IN ("
            "  SELECT key_hash FROM file_keys WHERE dataset = $dataset AND department = $department AND sha256 = $sha)",
            {"dataset": dataset, "department": of[0], "sha": of[1]},
        ).fetchall()
        return set(rows)

    @staticmethod
    def _alone(of: tuple[str, str], landed: int | None) -> list[tuple]:
        """`_winners` of a file that shares no key with another current file: each of its rows landed
        counts, without the comparison with other files (a large file's first landing took seconds
        and a gigabyte for it). Both paths hold back a row that repeats an earlier row's key (the
        contract's keys, the unit as resolved), so no two rows landed share the ledger's key
        (current_key: those keys, the unit with its list and level)."""
        return [(*of, None, None, landed)] if landed else []

    def _any_in_range(self, con, key: str, params: dict) -> bool:
        """Whether another file's key falls within the landing file's keys' range ($low..$high): the
        other files' row groups outside it are skipped by their statistics, so files of other
        communes or months are not read at all."""
        return con.execute(
            f"SELECT EXISTS (SELECT 1 FROM read_parquet($others, union_by_name = true) "
            f"WHERE {key} BETWEEN $low AND $high)",
            {k: params[k] for k in ("others", "low", "high")},
        ).fetchone()[0]

    def _current_files(
        self, con, dataset: str, owners: set[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, datetime]]:
        """(department, sha256) -> (file name, received at) of these current files of the dataset."""
        if not owners:
            return {}
        rows = con.execute(
            "SELECT department, sha256, file_name, received_at FROM files "
            "WHERE dataset = ? AND list_contains(?, status) AND list_contains(?, sha256)",
            [dataset, list(CURRENT_STATUSES), sorted({sha for _, sha in owners})],
        ).fetchall()
        return {(d, s): (name, received) for d, s, name, received in rows if (d, s) in owners}

    def _landed_rows(self, con, dataset: str) -> dict[tuple[str, str], int | None]:
        """(department, sha256) -> rows landed, of the dataset's current files."""
        rows = con.execute(
            "SELECT department, sha256, rows_landed FROM files WHERE dataset = ? AND list_contains(?, status)",
            [dataset, list(CURRENT_STATUSES)],
        ).fetchall()
        return {(department, sha): landed for department, sha, landed in rows}

    def _bronze_files(self, dataset: str, files: Iterable[tuple[str, str]]) -> list[str]:
        """The bronze files (every segment) of these files (department, sha256), found under this data
        directory (a copied data directory's ledger still names the old paths)."""
        folder, found = self.data_dir / "bronze" / dataset, []
        for department, sha in files:  # segments are numbered from the first, unnumbered (ingest.bulk)
            owner = bronze_stem(department, sha)
            segment, n = folder / f"{owner}.parquet", 0
            while segment.exists():
                found.append(str(segment))
                n += 1
                segment = folder / f"{owner}-{n}.parquet"
        return sorted(found)

    def _winners(self, con, dataset: str, of: tuple[str, str] | None = None) -> list[tuple]:
        """For each key of the dataset's current rows (only the keys of the current file `of`,
        (department, sha256), when given): which file's row counts and which file's row comes next,
        counted by pair: (department, sha256, next department, next sha256, keys). DuckDB reads the
        key columns of the current files' bronze Parquet; no row comes into Python."""
        contract = all_contracts().get(dataset)
        current = self._landed_rows(con, dataset)
        if contract is None or (of is not None and of not in current):
            return []
        key, key_hash, single = _key_expression(contract)
        rows = (
            f"SELECT {key} AS row_key, {key_hash} AS key_hash, _department AS department, _sha256 AS sha256, "
            "_ingested_at AS ingested_at, _row_number AS row_number FROM read_parquet({}, union_by_name = true)"
        )
        params: dict[str, Any] = {"dataset": dataset, "current": list(CURRENT_STATUSES)}
        if of is None:
            params["paths"] = self._bronze_files(dataset, current)
            candidates, own_keys = f"candidates AS ({rows.format('$paths')})", ""
        else:
            params |= {"department": of[0], "sha": of[1], "mine": self._bronze_files(dataset, {of})}
            params["others"] = self._bronze_files(dataset, self._others(con, dataset, of, current))
            alone = not params["others"]  # no other current file holds a key of it: each of its keys counts
            if not alone and single and params["mine"]:  # other files' row groups outside its keys' range are skipped
                params["low"], params["high"] = con.execute(
                    f"SELECT min({key}), max({key}) FROM read_parquet($mine, union_by_name = true)",
                    {"mine": params["mine"]},
                ).fetchone()
                alone = not self._any_in_range(con, key, params)
            if alone:
                return self._alone(of, current[of])
            candidates, own_keys = _shared_keys(rows, single), _own_keys()
        if not params.get("paths", params.get("mine")):
            return []
        return con.execute(
            f"""
            WITH current_files AS (
                SELECT row_number() OVER (ORDER BY department, sha256) AS file, department, sha256, received_at
                FROM files
                WHERE dataset = $dataset AND list_contains($current, status)
            ),
            {candidates},
            ranked AS (  -- a number per file through the window, not its names: less memory
                SELECT file, row_number() OVER latest AS place, lead(file) OVER latest AS next_file
                FROM candidates JOIN current_files USING (department, sha256)
                WINDOW latest AS (PARTITION BY row_key ORDER BY received_at DESC, ingested_at DESC, row_number)
            ),
            pairs AS (SELECT file, next_file, count(*) AS keys FROM ranked WHERE place = 1 GROUP BY ALL)
            SELECT f.department, f.sha256, n.department, n.sha256, pairs.keys
            FROM pairs JOIN current_files AS f USING (file) LEFT JOIN current_files AS n ON n.file = pairs.next_file
            {own_keys}
            """,
            params,
        ).fetchall()

    def received_between(self, con, start: datetime, end: datetime) -> list[tuple]:
        """(department, dataset, kept original, received at) of the files a backfill reads again."""
        return con.execute(
            "SELECT department, dataset, raw_path, received_at FROM files "
            "WHERE received_at >= ? AND received_at < ? AND raw_path IS NOT NULL "
            "AND list_contains(?, status) ORDER BY received_at",
            [start, end, list(READ_AGAIN_STATUSES)],
        ).fetchall()

    def export(self, con) -> Path:
        target = self.data_dir / "ledger.parquet"
        tmp = self.data_dir / "ledger.parquet.part"
        con.execute(f"COPY (SELECT * FROM files ORDER BY received_at) TO '{tmp}' (FORMAT parquet)")
        tmp.rename(target)
        return target
