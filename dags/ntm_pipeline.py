"""NTM lakehouse: department files → bronze → dbt marts → validation → CKAN.

No logic here: every task is one call into ntm.tasks. Configuration comes from Airflow Variables
(`ntm_dropzone`, `ntm_data_dir`) and the connection `ntm_ckan` (host = portal URL, password = API
token); without them the pipeline's own defaults (environment variables) apply.
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, TriggerRule, Variable, dag, task

MARTS = Asset("ntm://lakehouse/marts")
PORTAL = Asset("ntm://portal/datasets")

default_args = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}


def _var(name: str) -> str | None:
    return Variable.get(name, default=None)


def _ckan() -> tuple[str | None, str | None]:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection("ntm_ckan")
    except Exception:  # no connection configured: NTM_CKAN_URL/NTM_CKAN_TOKEN or the local portal
        return None, None
    return conn.host, conn.password


@dag(
    dag_id="ntm_pipeline",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,  # one DuckDB writer at a time
    default_args=default_args,
    tags=["ntm"],
    doc_md=__doc__,
)
def ntm_pipeline():
    @task
    def departments() -> list[str]:
        from ntm import tasks

        return tasks.list_departments(_var("ntm_dropzone"))

    @task(max_active_tis_per_dag=1)
    def ingest(department: str, run_id: str | None = None) -> dict:
        from ntm import tasks

        return tasks.ingest_department(department, _var("ntm_dropzone"), _var("ntm_data_dir"), run_id)

    @task(trigger_rule=TriggerRule.ALL_DONE, outlets=[MARTS])
    def transform() -> dict:
        from ntm import tasks

        return tasks.transform(_var("ntm_data_dir"))

    @task
    def validate(run_id: str | None = None) -> dict:
        from ntm import tasks

        return tasks.validate(_var("ntm_data_dir"), run_id)

    @task(outlets=[PORTAL])
    def publish(validation: dict) -> dict:
        from ntm import tasks

        url, token = _ckan()
        return tasks.publish(validation, _var("ntm_data_dir"), url, token)

    # run_id is filled in by Airflow from the task context.
    ingested = ingest.expand(department=departments())
    transformed = transform()
    ingested >> transformed
    checked = validate()
    transformed >> checked
    publish(checked)


ntm_pipeline()
