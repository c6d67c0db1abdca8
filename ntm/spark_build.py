"""The dbt project on Spark (docs/spark.md): the same models over the same bronze Parquet, built by
dbt-spark in session mode on a local pyspark (the optional extra `spark`; Java 17).

The build runs in a process of its own, so its JVM, its in-memory catalog and its warehouse
folder last one build and never serve another data dir. Each mart is written as a folder of
Parquet files under `<data dir>/marts_spark/`; DuckDB's `marts/` is not touched.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ntm_core.log import log
from ntm_core.settings import SETTINGS, java_home, spark_process_env

SPARK_MARTS = "marts_spark"  # one folder of Parquet files per mart (macros/export_parquet.sql)
SPARK_SCRATCH = "spark"  # the session's warehouse and scratch files, rebuilt by every build
SPARK_TARGET = "dbt_target_spark"  # dbt's manifest and run results of the Spark build


class SparkUnavailable(RuntimeError):
    """Spark cannot run on this machine (no Java, or the `spark` extra is not installed)."""


@dataclass
class SparkBuildResult:
    success: bool
    marts: dict[str, Path] = field(default_factory=dict)  # mart name -> folder of Parquet files
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def spark_missing() -> str | None:
    """Why a Spark build cannot run here, or None when it can."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        return "pyspark and dbt-spark are not installed: `uv sync --extra spark` (pip: ntm-lakehouse[spark])"
    java = java_home() / "bin" / "java" if java_home() else shutil.which("java")
    if not java or not Path(java).exists():
        return "no Java on this machine: Spark needs Java 17 (Debian: apt install openjdk-17-jre-headless)"
    return None


def build_on_spark(data_dir: Path, data_tests: bool = True) -> SparkBuildResult:
    """`dbt build --target spark` over the data dir's bronze files and ledger: seeds, every model
    and, with `data_tests`, the data and unit tests. The lake's incremental models are tables
    rebuilt whole there (macros/engine.sql), so every build is a full one."""
    if why := spark_missing():
        raise SparkUnavailable(why)
    if not (data_dir / "ledger.parquet").exists():
        return SparkBuildResult(
            success=False, failures=[f"{data_dir} has no ledger.parquet nor bronze files: run `ntm ingest` first"]
        )
    for folder in (SPARK_SCRATCH, SPARK_MARTS):
        shutil.rmtree(data_dir / folder, ignore_errors=True)
    (data_dir / SPARK_SCRATCH).mkdir(parents=True)
    (data_dir / SPARK_TARGET / "run_results.json").unlink(missing_ok=True)  # a child that dies writes none
    args = ["build", *([] if data_tests else ["--exclude-resource-type", "test", "unit_test"])]
    log(f"transform (Spark, {SETTINGS['NTM_SPARK_MASTER'].raw()}): dbt {' '.join(args)}")
    started = time.monotonic()
    last_lines = _run_child(data_dir, args)
    result = _read_results(data_dir, last_lines)
    result.seconds = time.monotonic() - started
    outcome = "ok" if result.success else "FAILED"
    log(f"transform (Spark): {outcome} in {result.seconds:.0f} s; {len(result.marts)} marts")
    for failure in result.failures:
        log(f"transform (Spark): {failure}")
    return result


def _run_child(data_dir: Path, args: list[str]) -> list[str]:
    """The build's process, its output passed on line by line (dbt's progress); its last lines."""
    last_lines: collections.deque[str] = collections.deque(maxlen=12)
    with subprocess.Popen(
        [sys.executable, "-m", "ntm.spark_build", str(data_dir), json.dumps(args)],
        cwd=data_dir / SPARK_SCRATCH,  # where Spark leaves what it writes beside the warehouse
        env=spark_process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        for line in child.stdout:
            sys.stderr.write(line)
            if line.strip() and not line.lstrip().startswith("at "):  # not the JVM's stack
                last_lines.append(re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip()))  # without dbt's colours
    return list(last_lines)


def _read_results(data_dir: Path, last_lines: list[str]) -> SparkBuildResult:
    """The build's outcome from dbt's run_results.json; without one (dbt stopped before the first
    model, or the process died), the last lines it printed."""
    path = data_dir / SPARK_TARGET / "run_results.json"
    if not path.exists():
        said = "\n  ".join(last_lines[-6:])
        return SparkBuildResult(success=False, failures=[f"dbt stopped before building anything:\n  {said}"])
    result = SparkBuildResult(success=True)
    for node in json.loads(path.read_text())["results"]:
        kind, name = node["unique_id"].split(".")[0], node["unique_id"].split(".")[2]
        if node["status"] in ("error", "fail", "runtime error"):
            result.success = False
            message = "\n".join((node.get("message") or "").splitlines()[:4])  # not the JVM's stack
            result.failures.append(f"{kind} {name}: {message}")
        elif kind == "model" and (data_dir / SPARK_MARTS / name).is_dir():
            result.marts[name] = data_dir / SPARK_MARTS / name
    return result


def _main(data_dir: str, args: str) -> int:
    """The child process: dbt in this process, on the profile's `spark` output."""
    from ntm.transform import run_dbt

    outcome = run_dbt(json.loads(args), Path(data_dir), target=SPARK_TARGET, profile_target="spark")
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
