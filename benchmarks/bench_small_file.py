"""One small file on the portal: seconds from `ntm run` starting to its rows answered by
`datastore_search`, on a copy of the demo lake already published, per stage.

    uv run python benchmarks/bench_small_file.py [--workdir DIR] [--profile DIR]

The samples are published first under the prefix `bench-small-` (untimed; purged afterwards). Then,
each time with a new two-row file of the digital-infrastructure dataset, a fresh process runs the
pipeline, as `ntm run` does (interpreter start and imports counted):
  baseline: validation by Great Expectations with its Data Docs (the path before the SQL engine)
  ntm:      `ntm run --timings` itself (validation as DuckDB SQL: expectations/sql_checks.py)
With `--profile DIR`, each run also writes a cProfile of its process there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
PREFIX = "bench-small-"
DEPARTMENT, DATASET = "so-khcn-dong-thap", "digital_infrastructure"
HEADER = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
# Each run its own new row (2024: the samples have 2023), so each run lands and publishes a change.
ROWS = {"baseline": ("30076", "Thị trấn Mỹ Thọ", "93,5"), "ntm": ("30079", "Xã Gáo Giồng", "81,25")}
MART = "fact_digital_infrastructure"

# The baseline's process: the pipeline as `ntm run` ran it before, with GE validating.
BASELINE = """
import json, sys, time
sys.path.insert(0, REPO)
from ntm import pipeline
startup = time.time() - float(sys.argv[3])
result = pipeline.run_all(sys.argv[1], sys.argv[2], data_docs=True)
print("SECONDS " + json.dumps({"start-up": startup, **result.seconds}))
"""


def drop_small_file(dropzone: Path, label: str) -> Path:
    code, name, value = ROWS[label]
    path = dropzone / DEPARTMENT / DATASET / f"HaTangSo_2024_{code}.csv"
    path.write_text(HEADER + f"{code};{name};2024;{value}\n", encoding="utf-8")
    os.utime(path, (time.time() - 60,) * 2)  # older than ingest's stability wait
    return path


def run_process(label: str, dropzone: Path, data_dir: Path, profile: Path | None) -> tuple[float, dict, str]:
    """A fresh process runs the pipeline (each in its own: DuckDB lets one process hold the
    warehouse); (seconds from its start to the end of its run, its stage seconds, its output).
    Python may cache bytecode, in a folder of the benchmark's own, as on a machine that ran once."""
    env = {**os.environ, "NTM_DATA_DIR": str(data_dir), "PYTHONPYCACHEPREFIX": str(data_dir.parent / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NTM_BULK_THRESHOLD_MB", None)  # the demo's settings (run.py sends every file the bulk way)
    profiling = ["-m", "cProfile", "-o", str(profile / f"{label}.prof")] if profile and label != "prime" else []
    if label in ("baseline", "prime"):
        script = data_dir.parent / "baseline_run.py"  # a file: cProfile runs no `-c`
        script.write_text(BASELINE.replace("REPO", repr(str(REPO)), 1), encoding="utf-8")
        command = [sys.executable, *profiling, str(script), str(dropzone), str(data_dir)]
    else:
        command = [sys.executable, *profiling, "-m", "ntm.cli", "run", "--dropzone", str(dropzone), "--timings"]
    started = time.time()
    argument = [repr(started)] if label in ("baseline", "prime") else []
    done = subprocess.run([*command, *argument], env=env, cwd=REPO, text=True, capture_output=True, check=False)
    seconds = time.time() - started
    if done.returncode != 0 or "Timings:" not in done.stdout and "SECONDS " not in done.stdout:
        raise RuntimeError(f"{label} run failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    if label in ("baseline", "prime"):
        line = next(line for line in done.stdout.splitlines() if line.startswith("SECONDS "))
        stages = json.loads(line.removeprefix("SECONDS "))
    else:
        stages = _printed_timings(done.stdout)
    return seconds, stages, done.stdout


def _printed_timings(output: str) -> dict:
    """The stages `ntm run --timings` printed."""
    lines = output.split("Timings:", 1)[1].strip().splitlines()
    return {line.split()[0]: float(line.split()[-2]) for line in lines if line.strip() and "total" not in line}


def publish_records(data_dir: Path) -> dict[str, str]:
    """mart -> its publish record (ntm_core.published), to tell which a run published again."""
    return {p.stem: p.read_text(encoding="utf-8") for p in (data_dir / "validation" / "published").glob("*.json")}


def what_ran(data_dir: Path, records_before: dict[str, str]) -> dict:
    """The marts the run's dbt build rebuilt (its run_results.json) and those it published again."""
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    marts = {p.stem for p in (data_dir / "marts").glob("*.parquet")}
    rebuilt = sorted({r["unique_id"].split(".")[-1] for r in results if r["status"] == "success"} & marts)
    published = sorted(m for m, record in publish_records(data_dir).items() if records_before.get(m) != record)
    return {"rebuilt": rebuilt, "published": published}


def measure(workdir: Path, profile: Path | None = None) -> dict:
    from ntm_core.published import previous_publish
    from publish.client import connect

    os.environ["NTM_DATASET_PREFIX"] = PREFIX
    os.environ.pop("NTM_DEPARTMENTS", None)
    dropzone, data_dir = workdir / "dropzone", workdir / "data"
    shutil.copytree(REPO / "samples" / "dropzone", dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):
        os.utime(path, (time.time() - 60,) * 2)
    ckan = connect()
    found = {}
    try:
        run_process("prime", dropzone, data_dir, profile)  # the demo lake, published; every import cached
        for label in ("baseline", "ntm"):
            records = publish_records(data_dir)
            drop_small_file(dropzone, label)
            seconds, stages, output = run_process(label, dropzone, data_dir, profile)
            started = time.perf_counter()
            resource = previous_publish(data_dir, MART)["resources"]["csv"]
            answered = ckan.action.datastore_search(
                resource_id=resource, filters={"year": 2024, "unit_code": ROWS[label][0]}
            )
            assert answered["records"], f"{label}: the small file's row is on the portal"
            found[label] = {
                "seconds": seconds + time.perf_counter() - started,
                "stages": stages,
                "output": output,
                **what_ran(data_dir, records),
            }
    finally:
        for name in ckan.action.package_list():
            if name.startswith(PREFIX):
                ckan.action.dataset_purge(id=name)
        os.environ.pop("NTM_DATASET_PREFIX", None)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--profile", type=Path, help="write each run's cProfile here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ntm-bench-small-"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        found = measure(workdir, args.profile)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    for label, figures in found.items():
        stages = ", ".join(f"{stage} {value:.2f} s" for stage, value in figures["stages"].items())
        print(f"{label}: {figures['seconds']:.2f} s to datastore_search ({stages})")
    print(found["ntm"]["output"])
    if args.json:
        args.json.write_text(json.dumps({k: {**v, "output": ""} for k, v in found.items()}), encoding="utf-8")
    print("rebuilt:", ", ".join(found["ntm"]["rebuilt"]), "; published again:", ", ".join(found["ntm"]["published"]))


if __name__ == "__main__":
    main()
