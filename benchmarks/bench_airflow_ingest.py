"""How long `ntm_ingest` takes when one of the nine sample departments has a new file.

Runs the DAG with Airflow's `dag.test()` (one process, no pool, no scheduler: the figure is the
tasks' own work, without the per-task process start a scheduler adds) in a temporary AIRFLOW_HOME,
on a copy of samples/dropzone: a first run lands every sample, then one new file is dropped into one
department and the second run is timed, task by task.

    uv run python benchmarks/bench_airflow_ingest.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-airflow-ingest-"))
    dropzone, data_dir, home = work / "dropzone", work / "data", work / "airflow"
    shutil.copytree(REPO / "samples" / "dropzone", dropzone)
    for path in dropzone.rglob("*"):  # old enough to be read at once
        if path.is_file():
            os.utime(path, (time.time() - 60, time.time() - 60))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_VAR_NTM_DROPZONE": str(dropzone),
        "AIRFLOW_VAR_NTM_DATA_DIR": str(data_dir),
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("ntm_ingest")
    started = time.perf_counter()
    dag.test()
    print(f"first run (every sample, {len(os.listdir(dropzone))} departments): {time.perf_counter() - started:.1f} s")
    source = next((dropzone / "so-khcn-son-la" / "digital_infrastructure").iterdir())
    target = source.with_name("moi-" + source.name)
    shutil.copyfile(source, target)
    with target.open("a", encoding="utf-8") as f:
        f.write("\n")
    os.utime(target, (time.time() - 60, time.time() - 60))
    started = time.perf_counter()
    run = dag.test()
    took = time.perf_counter() - started
    for ti in sorted(run.get_task_instances(), key=lambda t: t.start_date or run.start_date):
        span = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0
        print(f"  {ti.task_id}[{ti.map_index}] {ti.state}: {span:.2f} s")
    print(f"second run (one new file in one of {len(os.listdir(dropzone))} departments): {took:.1f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
