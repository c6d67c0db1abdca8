"""Where the DuckDB path starts to pay: the same one-stop-office exports, at several sizes, ingested
on the row path and on the DuckDB path in the same process, one after the other (written to
benchmarks/RESULTS_bulk_threshold.md). NTM_BULK_THRESHOLD_MB's default comes from here: the row path
costs little per file and much per row, the DuckDB path the other way round.

    uv run python benchmarks/bench_bulk_threshold.py
    uv run python benchmarks/bench_bulk_threshold.py --rows 600,6000,60000 --rounds 3

Each size is 6 files (one per province, records spread over its communes and 12 months), written
into a new lake per path and round; ingest runs with the ledger, the unit lists and DuckDB warmed
by one file first. The figure is the median over the rounds of the seconds per file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/run.py: the generated one-stop-office exports)
from bench_per_file import MONTHS, ingest_seconds  # noqa: E402

PATHS = {"row path": "1000000", "DuckDB path": "0"}  # NTM_BULK_THRESHOLD_MB for each


def measure(workdir: Path, rows_per_file: int, rounds: int) -> dict:
    files = bench.write_records(workdir / f"zone-{rows_per_file}", rows_per_file * len(bench.PROVINCES), MONTHS, "2024")
    size = statistics.mean(f.stat().st_size for f in files)
    seconds = {name: [] for name in PATHS}
    for k in range(rounds):
        for name, threshold in PATHS.items():  # alternating: a noisy minute hits both paths
            os.environ["NTM_BULK_THRESHOLD_MB"] = threshold
            data_dir = workdir / f"data-{rows_per_file}-{k}-{name.split()[0]}"
            spent, n_files, landed = ingest_seconds(workdir / f"zone-{rows_per_file}", data_dir)
            assert n_files == len(files) and landed == rows_per_file * len(files), (n_files, landed)
            seconds[name].append(spent / n_files)
            shutil.rmtree(data_dir)
    return {"rows": rows_per_file, "bytes": size, **{name: statistics.median(s) for name, s in seconds.items()}}


def table(results: list[dict], label: str, rounds: int) -> str:
    lines = [
        f"## {label} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, median of {rounds} rounds)",
        "",
        "| rows per file | file size | row path, per file | DuckDB path, per file | DuckDB ÷ row path time |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rows, duck = r["row path"], r["DuckDB path"]
        lines.append(
            f"| {r['rows']:,} | {r['bytes'] / 1024:,.0f} KB | {rows * 1000:,.0f} ms ({r['rows'] / rows:,.0f} rows/s) "
            f"| {duck * 1000:,.0f} ms ({r['rows'] / duck:,.0f} rows/s) | {duck / rows:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100,300,1000,3000,10000,30000", help="rows per file, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="this run")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS_bulk_threshold.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ntm-bench-threshold-"))
    try:
        os.environ["NTM_DEPARTMENTS"] = str(bench.write_registry(workdir))
        bench.warm_up(workdir)
        results = [measure(workdir, int(n), args.rounds) for n in args.rows.split(",")]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = table(results, args.label, args.rounds)
    if not args.output.exists():
        title = "# Where the DuckDB path starts to pay (benchmarks/bench_bulk_threshold.py)"
        args.output.write_text(f"{title}\n\n{__doc__}\n")
    with args.output.open("a", encoding="utf-8") as out:
        out.write("\n" + text)
    print(text)


if __name__ == "__main__":
    main()
