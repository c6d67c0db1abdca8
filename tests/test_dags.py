"""The DAGs, run by Airflow itself (dag.test) against the real local portal."""
import os
import subprocess
import sys

import pytest

from helpers import REPO, drop, sample


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ, **env})
    return home


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dags_import_without_errors(airflow_home):
    bag = _dagbag()
    assert bag.import_errors == {}
    dag = bag.get_dag("ntm_pipeline")
    assert {t.task_id for t in dag.tasks} == {"departments", "ingest", "transform", "validate", "publish"}
    assert dag.get_task("transform").upstream_task_ids == {"ingest"}
    assert dag.get_task("publish").upstream_task_ids == {"validate"}
    assert dag.get_task("ingest").retries == 2


@pytest.mark.portal
def test_two_departments_publish_and_a_bad_file_fails_only_its_task(airflow_home, ckan, dropzone, data_dir, prefix,
                                                                     capfd):
    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", sample("so-khcn-son-la", "digital_infrastructure"))
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure",
         sample("so-khcn-dong-thap", "digital_infrastructure"))
    drop(dropzone, "so-khcn-thai-nguyen", "digital_infrastructure", name="hong.csv",
         content=b"khong co tieu de\n1;2;3\n")
    os.environ["AIRFLOW_VAR_NTM_DROPZONE"] = str(dropzone)
    os.environ["AIRFLOW_VAR_NTM_DATA_DIR"] = str(data_dir)
    try:
        dag = _dagbag().get_dag("ntm_pipeline")
        run = dag.test()
    finally:
        os.environ.pop("AIRFLOW_VAR_NTM_DROPZONE")
        os.environ.pop("AIRFLOW_VAR_NTM_DATA_DIR")
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    ingest_states = sorted(s for (t, _), s in states.items() if t == "ingest")
    assert ingest_states == ["failed", "success", "success"]
    assert states[("publish", -1)] == "success"
    logs = "".join(capfd.readouterr())
    assert "hong.csv rejected" in logs and "No header row" in logs
    package = ckan.action.package_show(id=prefix + "ntm-ha-tang-so-cap-xa")
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert extras["source_departments"] == "so-khcn-dong-thap, so-khcn-son-la"
