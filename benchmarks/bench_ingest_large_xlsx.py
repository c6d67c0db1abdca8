"""Ingest of a large Excel workbook, beside the CSV of the same rows (#26: bounded memory for every format).

    uv run python benchmarks/bench_ingest_large_xlsx.py [--rows 1000000] [--row-path] [--workdir DIR]

Generates the one-stop-office export of `bench_ingest_large_csv` (Vietnamese headers, dd/mm/yyyy
dates, personal columns) as a CSV with DuckDB, then the same rows as an `.xlsx` (openpyxl's write-only
mode, dates as date cells). Each ingest runs in a child process of its own, so each peak is that run's
alone (the child's `ru_maxrss`), in this order:
  csv        the CSV (the DuckDB path): the baseline
  xlsx       the workbook, streamed into a CSV and read by the DuckDB path (the default from 2 MB)
  xlsx-rows  (--row-path) the workbook read whole by the row path, as every workbook was before
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_ingest_large_csv import generate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEPARTMENT, DATASET = "mot-cua-dong-thap", "public_service_records"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from ingest.run import ingest_dropzone
t0 = time.perf_counter()
from pathlib import Path
[outcome] = ingest_dropzone(Path({dropzone!r}), Path({data!r}), "bench").files
print(json.dumps({{"seconds": time.perf_counter() - t0, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "status": outcome.status, "landed": outcome.rows_landed, "held": outcome.rows_quarantined,
                  "reason": outcome.reason}}))
"""


def write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """The CSV's rows as a workbook, written row by row; the date columns as date cells."""
    import csv

    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Hồ sơ")
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        sheet.append(header)
        dates = [i for i, name in enumerate(header) if name.startswith("Ngày")]
        for cells in reader:
            row = list(cells)
            for i in dates:
                if row[i]:
                    cell = WriteOnlyCell(sheet, value=dt.datetime.strptime(row[i], "%d/%m/%Y"))
                    cell.number_format = "dd/mm/yyyy"
                    row[i] = cell
            sheet.append(row)
    book.save(xlsx_path)


def ingest_in_child(workdir: Path, name: str, source: Path, env: dict) -> dict:
    dropzone = workdir / name / "dropzone"
    folder = dropzone / DEPARTMENT / DATASET
    folder.mkdir(parents=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    os.utime(target, (time.time() - 60,) * 2)
    code = CHILD.format(repo=str(REPO), dropzone=str(dropzone), data=str(workdir / name / "data"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--row-path", action="store_true", help="also the workbook on the row path (before)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ntm-bench-xlsx-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = workdir / "HoSo_MotCua_2024.csv", workdir / "HoSo_MotCua_2024.xlsx"
    t0 = time.perf_counter()
    if xlsx_path.exists():  # a --workdir of an earlier run: the same files
        rows = sum(1 for _ in open(csv_path, encoding="utf-8")) - 1
    else:
        rows = generate(csv_path, (args.rows + 0.5) * 190 / 1024**3)
        write_xlsx(csv_path, xlsx_path)
    print(
        f"generated {rows:,} rows: CSV {csv_path.stat().st_size / 1024**2:,.0f} MB, "
        f"XLSX {xlsx_path.stat().st_size / 1024**2:,.0f} MB in {time.perf_counter() - t0:.0f} s"
    )
    # Both on the DuckDB path whatever their size (the defaults: CSV from 64 MB, workbooks from 2 MB).
    runs = [("csv", csv_path, {"NTM_BULK_THRESHOLD_MB": "0"}), ("xlsx", xlsx_path, {"NTM_BULK_WORKBOOK_MB": "0"})]
    if args.row_path:
        runs.append(("xlsx-rows", xlsx_path, {"NTM_BULK_WORKBOOK_MB": "1000000"}))
    for name, _, _ in runs:
        shutil.rmtree(workdir / name, ignore_errors=True)
    results = {name: ingest_in_child(workdir, name, source, env) for name, source, env in runs}
    base = results["csv"]
    for name, r in results.items():
        print(
            f"{name:10} {r['seconds']:7.1f} s {rows / r['seconds']:10,.0f} rows/s  "
            f"peak RSS {r['peak_kb'] / 1024:7,.0f} MB"
            f"  time ×{r['seconds'] / base['seconds']:.2f} of CSV, peak ×{r['peak_kb'] / base['peak_kb']:.2f}"
            f"  ({r['status']}, {r['landed']:,} landed, {r['held']:,} held back)"
            + (f" {r['reason']}" if r["reason"] else "")
        )
    write_results(rows, csv_path, xlsx_path, results)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


def write_results(rows: int, csv_path: Path, xlsx_path: Path, results: dict, target: Path = HERE / "RESULTS_xlsx.md"):
    lines = [
        "# Large workbooks (`benchmarks/bench_ingest_large_xlsx.py`)",
        "",
        f"{rows:,} one-stop-office records: CSV {csv_path.stat().st_size / 1024**2:,.0f} MB, the same rows as an "
        f"`.xlsx` of {xlsx_path.stat().st_size / 1024**2:,.0f} MB (openpyxl write-only: inline strings, date cells). "
        "Each ingest in a child process of its own; peak = its `ru_maxrss`. Run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| ingest | time | rows/s | peak RSS | time vs CSV | peak vs CSV | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    base = results["csv"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['seconds']:.1f} s | {rows / r['seconds']:,.0f} | {r['peak_kb'] / 1024:,.0f} MB "
            f"| ×{r['seconds'] / base['seconds']:.2f} | ×{r['peak_kb'] / base['peak_kb']:.2f} "
            f"| {r['status']}, {r['landed']:,} landed{' — ' + r['reason'] if r['reason'] else ''} |"
        )
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
