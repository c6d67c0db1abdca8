"""A file's fixed cost in ingest: the same records as 72 monthly files and as 6 yearly ones, on the
row path (files under NTM_BULK_THRESHOLD_MB) and on the DuckDB path, beside DuckDB's own
read_csv → Parquet of the same files in the same process (written to benchmarks/RESULTS_per_file.md).

    uv run python benchmarks/bench_per_file.py                 # 100,000 records
    uv run python benchmarks/bench_per_file.py --records 20000 --label before

A file's cost beyond its rows is estimated as (monthly time − yearly time) / (72 − 6): the same rows,
66 more files. Ingest runs with the ledger, the unit lists and DuckDB warmed by one file first.

The small-file rows time files of two rows each, from the file's turn to its ledger entry: 72 into a
new lake, then 360 more into the same lake (a file's cost must not grow with the files received).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/run.py: the generated one-stop-office exports)

MONTHS = [(2024, m) for m in range(1, 13)]


def write_drop_zones(workdir: Path, records: int) -> dict[str, list[Path]]:
    """The same records as 6 yearly files (one per province) and as 72 monthly ones."""
    monthly = [p for m in MONTHS for p in bench.write_records(workdir / "monthly", records // 12, [m], f"{m[1]:02d}")]
    yearly = bench.write_records(workdir / "yearly", records // 12 * 12, MONTHS, "2024")
    return {"monthly": monthly, "yearly": yearly}


def ingest_seconds(dropzone: Path, data_dir: Path) -> tuple[float, int, int]:
    from ingest.run import ingest_dropzone

    started = time.perf_counter()
    result = ingest_dropzone(dropzone, data_dir, f"bench-{dropzone.name}")
    seconds = time.perf_counter() - started
    return seconds, len(result.files), sum(f.rows_landed for f in result.files)


def duckdb_seconds(files: list[Path], target: Path) -> float:
    target.mkdir(parents=True)
    con = duckdb.connect()
    started = time.perf_counter()
    for i, path in enumerate(files):
        con.execute(f"copy (select * from read_csv('{path}')) to '{target / f'{i}.parquet'}' (format parquet)")
    return time.perf_counter() - started


def measure(workdir: Path, records: int, path_name: str, threshold_mb: str) -> dict:
    os.environ["NTM_BULK_THRESHOLD_MB"] = threshold_mb
    bench.warm_up(workdir)
    found = {}
    for kind, files in write_drop_zones(workdir / path_name, records).items():
        seconds, n_files, rows = ingest_seconds(workdir / path_name / kind, workdir / f"data-{path_name}-{kind}")
        base = duckdb_seconds(files, workdir / f"duckdb-{path_name}-{kind}")
        found[kind] = {"s": seconds, "files": n_files, "rows": rows, "duckdb_s": base}
    per_file = (found["monthly"]["s"] - found["yearly"]["s"]) / (found["monthly"]["files"] - found["yearly"]["files"])
    base_per_file = (found["monthly"]["duckdb_s"] - found["yearly"]["duckdb_s"]) / 66
    return {"path": path_name, **found, "per_file_ms": per_file * 1000, "duckdb_per_file_ms": base_per_file * 1000}


def small_files(workdir: Path) -> list[dict]:
    """ms per two-row file (row path): 72 files into a new lake, then 360 more into it, each beside
    DuckDB's read_csv → Parquet of the same files."""
    os.environ["NTM_BULK_THRESHOLD_MB"] = "64"
    bench.warm_up(workdir)
    data_dir, found = workdir / "data-small", []
    # Other years for the second batch: the same bytes again would only be noted as unchanged.
    for batch, rounds, first_year in (("72 files into a new lake", 1, 2014), ("360 more files into it", 5, 2015)):
        zone = workdir / f"small-{rounds}"
        files = [
            path
            for k in range(rounds)
            for m in range(1, 13)
            for path in bench.write_records(zone, 2 * len(bench.PROVINCES), [(first_year + k, m)], f"{k}-{m:02d}")
        ]
        seconds, n_files, _ = ingest_seconds(zone, data_dir)
        base = duckdb_seconds(files, workdir / f"duckdb-small-{rounds}")
        found.append(
            {"batch": batch, "files": n_files, "ms": seconds / n_files * 1000, "duckdb_ms": base / n_files * 1000}
        )
    return found


def table(results: list[dict], label: str, records: int, small: list[dict]) -> str:
    lines = [
        f"## {label} — {records:,} records ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "| path | 6 yearly files | 72 monthly files | monthly ÷ yearly throughput | cost per file beyond its rows | "
        "DuckDB read_csv → Parquet, per file |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        y, m = r["yearly"], r["monthly"]
        lines.append(
            f"| {r['path']} | {y['s']:.2f} s ({y['rows'] / y['s']:,.0f} rows/s) | {m['s']:.2f} s "
            f"({m['rows'] / m['s']:,.0f} rows/s) | {y['s'] / m['s']:.2f} | {r['per_file_ms']:.0f} ms | "
            f"{r['duckdb_per_file_ms']:.1f} ms |"
        )
    lines += [
        "",
        "| two-row files, from a file's turn to its ledger entry | per file | DuckDB read_csv → Parquet, per file |",
        "|---|---|---|",
        *(f"| {r['batch']} ({r['files']}) | {r['ms']:.1f} ms | {r['duckdb_ms']:.1f} ms |" for r in small),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--label", default="this run")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS_per_file.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ntm-bench-per-file-"))
    try:
        os.environ["NTM_DEPARTMENTS"] = str(bench.write_registry(workdir))
        results = [
            measure(workdir, args.records, "row path", "64"),
            measure(workdir, args.records, "DuckDB path", "0"),
        ]
        small = small_files(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = table(results, args.label, args.records, small)
    if not args.output.exists():
        args.output.write_text("# A file's fixed cost (benchmarks/bench_per_file.py)\n\n" + __doc__ + "\n")
    with args.output.open("a", encoding="utf-8") as out:
        out.write("\n" + text)
    print(text)


if __name__ == "__main__":
    main()
