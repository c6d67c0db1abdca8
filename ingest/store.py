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
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.contract import Contract
from ntm_core.settings import DBT_SEEDS

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
]

# Every status a file's ledger entry can end in, defined here only: dbt reads them from the seed
# `lakehouse/ledger_statuses.csv`, written from this table (`ntm seeds`; a test checks they agree).
# (status, rows current, meaning in Vietnamese, meaning in English)
LEDGER_STATUSES = (
    ("landed", True, "Đã nhận toàn bộ", "Every row landed"),
    ("partly_landed", True, "Đã nhận một phần, các dòng lỗi bị giữ lại", "Landed; some rows were held back"),
    ("rejected", False, "Bị từ chối, không dòng nào được nhận", "Rejected: no row landed"),
    ("superseded", False, "Đã được thay bằng tệp mới hơn cùng kỳ", "Replaced by a newer file for the same period"),
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
    superseded_by   VARCHAR
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
    import os
    import tempfile

    root = data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))


def clean_leftovers(data_dir: Path) -> list[Path]:
    """Remove what a killed run left: scratch folders of processes that are gone, and the `.part`
    files written under a name no reader globs (bronze, kept originals, reports are renamed only
    once complete). Called with the ledger open, so no other ingest is writing."""
    import os
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
    path = data_dir / "bronze" / contract.id / f"{department}__{sha[:16]}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.part")
    pq.write_table(pa.table(columns, schema=schema), tmp)
    tmp.rename(path)  # readers see the whole file or none of it
    return path


@dataclass
class Ledger:
    data_dir: Path

    @property
    def path(self) -> Path:
        return self.data_dir / "ledger.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        con.execute(LEDGER_DDL)
        return con

    def seen(self, con, department: str, dataset: str, sha: str) -> dict | None:
        row = con.execute(
            "SELECT file_name, status FROM files WHERE department = ? AND dataset = ? AND sha256 = ? "
            "ORDER BY received_at LIMIT 1",
            [department, dataset, sha],
        ).fetchone()
        return {"file_name": row[0], "status": row[1]} if row else None

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
        cols = ", ".join(entry)
        marks = ", ".join("?" for _ in entry)
        con.execute(f"INSERT INTO files ({cols}) VALUES ({marks})", list(entry.values()))

    def supersede(
        self, con, department: str, dataset: str, period: str, new_sha: str, received_at: datetime | None = None
    ) -> str | None:
        """Older landed files for the same department, dataset and period stop being current.
        Returns the sha256 of a newer current file if there is one: a file read again in a backfill
        does not displace a correction received after it."""
        received_at = received_at or datetime.now(UTC)
        newer = con.execute(
            "SELECT sha256 FROM files WHERE department = ? AND dataset = ? AND period = ? AND sha256 <> ? "
            "AND list_contains(?, status) AND received_at > ? ORDER BY received_at DESC LIMIT 1",
            [department, dataset, period, new_sha, list(CURRENT_STATUSES), received_at],
        ).fetchone()
        con.execute(
            "UPDATE files SET status = 'superseded', superseded_by = ? "
            "WHERE department = ? AND dataset = ? AND period = ? AND sha256 <> ? "
            "AND list_contains(?, status) AND received_at <= ?",
            [new_sha, department, dataset, period, new_sha, list(CURRENT_STATUSES), received_at],
        )
        return newer[0] if newer else None

    def retire_reading(self, con, department: str, dataset: str, sha: str) -> None:
        """A file is about to be read again (backfill): its earlier reading stops counting."""
        con.execute(
            "UPDATE files SET status = 'reprocessed' WHERE department = ? AND dataset = ? AND sha256 = ? "
            "AND list_contains(?, status)",
            [department, dataset, sha, list(READ_AGAIN_STATUSES)],
        )

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
