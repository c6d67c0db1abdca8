"""Ingest of a large public-service-records CSV, against plain DuckDB on the same file.

    uv run python benchmarks/bench_ingest_large_csv.py [--gb 2] [--workdir DIR] [--keep]

Generates a CSV shaped like a one-stop office export (Vietnamese headers, dd/mm/yyyy dates,
procedure codes such as 1.004227, personal columns), then times in this process:
  baseline: COPY (SELECT * FROM read_csv(file)) TO 'file.parquet'
  ntm:      ingest_dropzone() on a drop zone holding the file (hash, raw copy, typing,
            checks, unit resolution, bronze Parquet, ledger)
and prints rows/s, peak memory (RSS sampled every 50 ms) and the ratios. Targets from the
issue (#32): at least 0.7x DuckDB's speed, peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from measure import PeakMemory

HEADER = (
    "Mã hồ sơ,Mã TTHC,Tên TTHC,Cấp giải quyết,Mã đơn vị,Đơn vị tiếp nhận,Ngày tiếp nhận,Ngày hẹn trả,"
    "Ngày trả kết quả,Hình thức nộp,Họ tên người nộp,Số CCCD,Số điện thoại"
)
UNITS = [
    ("873", "UBND huyện Cao Lãnh", "Huyện"),
    ("30076", "TT Mỹ Thọ", "Xã"),
    ("30079", "Xã Gáo Giồng", "Xã"),
    ("30085", "Xã Ba Sao", "Xã"),
    ("30100", "Xã Mỹ Thọ", "Xã"),
    ("872", "UBND huyện Tháp Mười", "Huyện"),
]


def generate(path: Path, gigabytes: float) -> int:
    """Write the CSV with DuckDB (fast), about 190 bytes a row."""
    rows = int(gigabytes * 1024**3 / 190)
    units = " UNION ALL ".join(
        f"SELECT {i} AS i, '{c}' AS code, '{n}' AS name, '{lvl}' AS lvl" for i, (c, n, lvl) in enumerate(UNITS)
    )
    duckdb.sql(f"""
        COPY (
          WITH u AS ({units})
          SELECT printf('000.00.%s.H20-24%03d-%08d', u.code, r % 31 + 1, r) AS "Mã hồ sơ",
                 CASE WHEN r % 2 = 0 THEN '1.004227' ELSE '2.000908' END AS "Mã TTHC",
                 CASE WHEN r % 2 = 0 THEN 'Cấp giấy phép xây dựng nhà ở riêng lẻ'
                      ELSE 'Chứng thực bản sao từ bản chính' END AS "Tên TTHC",
                 u.lvl AS "Cấp giải quyết", u.code AS "Mã đơn vị", u.name AS "Đơn vị tiếp nhận",
                 strftime(DATE '2024-01-01' + CAST(r % 31 AS INTEGER), '%d/%m/%Y') AS "Ngày tiếp nhận",
                 strftime(DATE '2024-01-03' + CAST(r % 31 AS INTEGER), '%d/%m/%Y') AS "Ngày hẹn trả",
                 CASE WHEN r % 7 = 0 THEN '' ELSE strftime(DATE '2024-01-02' + CAST(r % 37 AS INTEGER), '%d/%m/%Y')
                 END AS "Ngày trả kết quả",
                 CASE r % 3 WHEN 0 THEN 'Trực tuyến' WHEN 1 THEN 'Trực tiếp' ELSE 'Bưu chính công ích' END
                     AS "Hình thức nộp",
                 'Nguyễn Văn ' || chr(65 + CAST(r % 26 AS INTEGER)) AS "Họ tên người nộp",
                 printf('0%011d', r) AS "Số CCCD", printf('09%08d', r % 100000000) AS "Số điện thoại"
          FROM range({rows}) t(r) JOIN u ON u.i = r % {len(UNITS)}
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ntm-bench-"))
    dropzone = workdir / "dropzone" / "mot-cua-dong-thap" / "public_service_records"
    dropzone.mkdir(parents=True, exist_ok=True)
    csv_path = dropzone / "HoSo_MotCua_2024.csv"
    t0 = time.perf_counter()
    rows = generate(csv_path, args.gb)
    os.utime(csv_path, (time.time() - 60,) * 2)
    size = csv_path.stat().st_size
    print(f"generated {rows:,} rows, {size / 1024**3:.2f} GB in {time.perf_counter() - t0:.1f} s")

    with PeakMemory() as base_mem:
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET memory_limit = '1GB'")
        con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}')) TO '{workdir / 'baseline.parquet'}' (FORMAT parquet)")
        base_s = time.perf_counter() - t0
        con.close()

    from ingest.run import ingest_dropzone

    with PeakMemory() as ntm_mem:
        t0 = time.perf_counter()
        result = ingest_dropzone(workdir / "dropzone", workdir / "data", "bench")
        ntm_s = time.perf_counter() - t0
    [outcome] = result.files
    print(
        f"baseline DuckDB COPY: {base_s:.1f} s, {rows / base_s:,.0f} rows/s, peak RSS {base_mem.peak / 1024**2:,.0f} MB"
    )
    print(
        f"ntm ingest:           {ntm_s:.1f} s, {rows / ntm_s:,.0f} rows/s, peak RSS {ntm_mem.peak / 1024**2:,.0f} MB"
        f"  ({outcome.status}, {outcome.rows_landed:,} landed, {outcome.rows_quarantined:,} held back)"
    )
    print(
        f"speed ratio ntm/DuckDB: {base_s / ntm_s:.2f}x (target >= 0.7x); peak memory {ntm_mem.peak / 1024**3:.2f} GB "
        "(target < 2 GB)"
    )
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
