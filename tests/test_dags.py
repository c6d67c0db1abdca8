"""The DAGs, run by Airflow itself (dag.test) against the real local portal."""

import json
import os
import subprocess
import sys

import pendulum
import pytest
from helpers import REPO, drop, sample

from ntm.watch import DROPZONE_URI


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    saved = dict(os.environ)
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env={**os.environ, **env}
    )
    yield home
    # dag.test() leaves its task context (AIRFLOW_CTX_*) in os.environ: the tests after these would
    # run as if inside an Airflow task (their progress lines going to logging instead of stderr).
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def variables(dropzone, data_dir):
    os.environ["AIRFLOW_VAR_NTM_DROPZONE"] = str(dropzone)
    os.environ["AIRFLOW_VAR_NTM_DATA_DIR"] = str(data_dir)
    yield
    os.environ.pop("AIRFLOW_VAR_NTM_DROPZONE")
    os.environ.pop("AIRFLOW_VAR_NTM_DATA_DIR")


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def _states(run):
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def _asset_events(uri, run):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri, AssetEvent.source_run_id == run.run_id)
            .count()
        )


def test_dags_import_without_errors(airflow_home):
    bag = _dagbag()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"ntm_ingest", "ntm_publish", "ntm_rebuild", "ntm_freshness", "ntm_backfill"}
    ingest, publish = bag.get_dag("ntm_ingest"), bag.get_dag("ntm_publish")
    assert {t.task_id for t in ingest.tasks} == {"departments", "department.ingest", "department.rejections"}
    assert [o.uri for o in ingest.get_task("department.ingest").outlets] == ["ntm://lakehouse/bronze"]
    assert ingest.get_task("department.rejections").upstream_task_ids == {"department.ingest"}
    # every department's ingest before the publish the first one's asset event starts (one-slot pool)
    assert ingest.get_task("department.ingest").priority_weight > publish.get_task("transform").priority_weight
    # a dropped file starts the ingest (the drop zone's watcher), the hourly poll catches the rest;
    # the portal's submissions raise events on the same asset (ntm portal up passes it the URI)
    assert type(ingest.timetable).__name__ == "AssetOrTimeSchedule"
    (dropzone,) = ingest.timetable.asset_condition.objects
    assert dropzone.uri == DROPZONE_URI == "ntm://dropzone/files"
    assert ingest.timetable.timetable.summary == "0 * * * *"
    assert type(publish.timetable).__name__ == "AssetTriggeredTimetable"
    assert "ntm://lakehouse/bronze" in str(publish.timetable.asset_condition)
    assert publish.get_task("validate").upstream_task_ids == {"transform"}
    assert publish.get_task("publish").upstream_task_ids == {"validate"}
    rebuild = bag.get_dag("ntm_rebuild")
    assert rebuild.get_task("transform_full_refresh").downstream_task_ids == {"validate", "iceberg"}
    freshness = bag.get_dag("ntm_freshness")  # daily: the freshness mart built, validated, published
    assert freshness.get_task("freshness").downstream_task_ids == {"validate"}
    assert freshness.get_task("publish").upstream_task_ids == {"validate"}
    for dag in bag.dags.values():
        for t in dag.tasks:
            assert t.retries == 2 and t.retry_exponential_backoff and t.on_failure_callback and t.pool == "ntm_duckdb"


@pytest.mark.portal
def test_new_files_flow_to_the_portal_and_a_bad_file_fails_only_its_department(
    airflow_home, ckan, dropzone, data_dir, prefix, variables, capfd
):
    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", sample("so-khcn-son-la", "digital_infrastructure"))
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", sample("so-khcn-dong-thap", "digital_infrastructure"))
    # Đồng Tháp sends a good file and a bad one in the same poll; Thái Nguyên only a bad one.
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", name="sai.csv", content=b"abc\n1;2;3\n")
    # Its BOM says UTF-8, its bytes are Windows-1258: it once stopped the whole ingest.
    drop(
        dropzone,
        "so-khcn-thai-nguyen",
        "digital_infrastructure",
        name="hong.csv",
        content=b"\xef\xbb\xbfT\xean,K\xf2\nA,B\n",
    )
    bag = _dagbag()
    ingest_run = bag.get_dag("ntm_ingest").test()
    states = _states(ingest_run)
    by_department = {dept: i for i, dept in enumerate(["so-khcn-dong-thap", "so-khcn-son-la", "so-khcn-thai-nguyen"])}
    ingest = {d: states[("department.ingest", i)] for d, i in by_department.items()}
    check = {d: states[("department.rejections", i)] for d, i in by_department.items()}
    assert ingest == {"so-khcn-dong-thap": "success", "so-khcn-son-la": "success", "so-khcn-thai-nguyen": "failed"}
    assert check == {
        "so-khcn-dong-thap": "failed",
        "so-khcn-son-la": "success",
        "so-khcn-thai-nguyen": "upstream_failed",
    }
    logs = "".join(capfd.readouterr())
    assert "hong.csv rejected" in logs and "sai.csv rejected" in logs and "No header row" in logs
    # The failure callback names the department, the task and the reason: once per department.
    alerts = [json.loads(line) for line in (data_dir / "alerts" / "failures.jsonl").read_text().splitlines()]
    assert {(a["department"], a["task"].split("[")[0]) for a in alerts} == {
        ("so-khcn-thai-nguyen", "department.ingest"),
        ("so-khcn-dong-thap", "department.rejections"),
    }
    assert all(a["dag"] == "ntm_ingest" for a in alerts)
    assert any("hong.csv rejected" in a["reason"] for a in alerts)
    assert any("sai.csv rejected" in a["reason"] and "report" in a["reason"] for a in alerts)
    # Each department with new rows told the scheduler, Đồng Tháp too despite its bad file.
    assert _asset_events("ntm://lakehouse/bronze", ingest_run) == 2

    publish_run = bag.get_dag("ntm_publish").test()
    assert set(_states(publish_run).values()) == {"success"}
    package = ckan.action.package_show(id=prefix + "ntm-ha-tang-so-cap-xa")
    assert package["source_departments"] == "so-khcn-dong-thap, so-khcn-son-la"

    # Nothing new on the next poll: no department gets an ingest, none emits an event (the bad files
    # were reported once; they fail again only when the department sends them again, changed).
    again_run = bag.get_dag("ntm_ingest").test()
    again = _states(again_run)
    assert again[("departments", -1)] == "success"
    assert {s for (t, _), s in again.items() if t.startswith("department.")} == {"skipped"}
    assert _asset_events("ntm://lakehouse/bronze", again_run) == 0


def test_backfill_rereads_the_files_received_in_its_interval(airflow_home, dropzone, data_dir, variables):
    import duckdb

    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", sample("so-khcn-son-la", "digital_infrastructure"))
    bag = _dagbag()
    assert set(_states(bag.get_dag("ntm_ingest").test()).values()) == {"success"}
    today = pendulum.now("Asia/Ho_Chi_Minh").start_of("day")
    backfill = bag.get_dag("ntm_backfill")
    empty = backfill.test(logical_date=today.subtract(days=3))
    assert _states(empty) == {("reread_received", -1): "skipped", ("rejections", -1): "skipped"}
    # A manual run covers the interval that ends at its logical date: [today, tomorrow).
    run = backfill.test(logical_date=today.add(days=1))
    assert _states(run) == {("reread_received", -1): "success", ("rejections", -1): "success"}
    assert _asset_events("ntm://lakehouse/bronze", run) == 1
    ledger = duckdb.sql(f"select status, count(*) from '{data_dir}/ledger.parquet' group by all").fetchall()
    assert dict(ledger) == {"reprocessed": 1, "landed": 1}


def test_a_dropped_file_raises_the_event_and_only_its_department_is_ingested(
    airflow_home, dropzone, data_dir, variables
):
    import asyncio

    from ntm.dropzone_trigger import DropZoneTrigger

    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", sample("so-khcn-dong-thap", "digital_infrastructure"))
    bag = _dagbag()
    ingest = bag.get_dag("ntm_ingest")
    assert set(_states(ingest.test()).values()) == {"success"}

    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", sample("so-khcn-son-la", "digital_infrastructure"))
    (asset,) = ingest.timetable.asset_condition.objects
    (watcher,) = asset.watchers  # the DAG's own watcher, on this drop zone
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "ntm.dropzone_trigger.DropZoneTrigger" and kwargs["dropzone"] is None  # the Variables decide

    async def first_event():
        events = DropZoneTrigger(**kwargs).run()
        try:
            return await asyncio.wait_for(anext(events), 30)
        finally:
            await events.aclose()

    assert asyncio.run(first_event()).payload["departments"] == ["so-khcn-son-la"]
    run = ingest.test()
    states = _states(run)
    assert states == {
        ("departments", -1): "success",
        ("department.ingest", 0): "success",
        ("department.rejections", 0): "success",
    }
    assert (
        run.get_task_instance("department.ingest", map_index=0).xcom_pull(task_ids="department.ingest", map_indexes=0)[
            "department"
        ]
        == "so-khcn-son-la"
    )
    assert _asset_events("ntm://lakehouse/bronze", run) == 1
