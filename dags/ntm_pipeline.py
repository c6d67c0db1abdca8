"""NTM lakehouse DAGs: department files → bronze → dbt marts → validation → CKAN.

- `ntm_ingest` (on the `dropzone` asset, and hourly as a safety net): a file dropped into the drop
  zone raises the `dropzone` asset event as soon as it is stable (the watcher, `ntm.dropzone_trigger.
  DropZoneTrigger`, run by the triggerer: one listing of the whole drop zone every second); events
  that come during a run are folded into the next one. The portal raises the same event through
  Airflow's REST API when it accepts a department's submission, naming the department.
  `departments` fetches the portal's submissions and the departments' URLs (of the departments the
  triggering events name; of all on the poll), then one listing of the drop zone names the departments
  with a file no ingest has looked at: only they get an `ingest`, which reads its new files and
  emits the `bronze` asset event when rows landed; a rejected file fails that department's
  `rejections` check (or its `ingest`, when nothing landed), never another department's.
- `ntm_publish` (on the `bronze` asset): dbt build, validation, publish, each doing only the new
  files' work (the models they feed, the marts whose content changed). A new file reaches the
  portal without anyone pressing a button.
- `ntm_rebuild` (Sundays 02:00): full rebuild (dbt --full-refresh), validation, publish; and the
  lake's tables written as Iceberg tables for other engines (ntm/iceberg.py).
- `ntm_freshness` (daily 06:00): each department × dataset's freshness (HDX thresholds) and the
  reminder lists of the late ones; the freshness mart is validated and published.
- `ntm_backfill` (daily intervals, for `airflow backfill create`): files received in the run's
  interval are read again from their kept originals with today's contracts; emits `bronze`.
  Airflow only runs backfills of unpaused DAGs, so its scheduled runs are skipped on purpose.

No logic here: every task is one call into ntm.tasks. Configuration: Airflow Variables
`ntm_dropzone` and `ntm_data_dir`, the connection `ntm_ckan` (host = portal URL, password = API
token); without them the pipeline's environment defaults apply. DuckDB allows one writer per file:
every DAG that writes runs one task at a time in the `ntm_duckdb` pool (one slot).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, Variable, dag, task, task_group
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

from ntm.dropzone_trigger import DropZoneTrigger
from ntm.watch import DROPZONE_URI

TZ = "Asia/Ho_Chi_Minh"
# A file stable in the drop zone (ingest's SETTLE_SECONDS) raises this asset's event, naming its
# department; the triggerer runs the watcher (`airflow triggerer`, or `airflow standalone`). The
# portal raises the same event through the REST API when it accepts a submission (ckanext-ntm).
DROPZONE = Asset(
    DROPZONE_URI,
    watchers=[
        AssetWatcher(name="ntm_dropzone_watcher", trigger=DropZoneTrigger(poll_seconds=1.0, dag_id="ntm_ingest"))
    ],
)
SAFETY_POLL = "0 * * * *"  # hourly: whatever the watcher missed (a triggerer down, say)
BRONZE = Asset("ntm://lakehouse/bronze")
MARTS = Asset("ntm://lakehouse/marts")
PORTAL = Asset("ntm://portal/datasets")
POOL = "ntm_duckdb"  # created by `airflow pools set ntm_duckdb 1 ...`; dag.test() ignores pools


def _on_failure(context):
    from ntm import tasks

    tasks.on_failure(context, Variable.get("ntm_data_dir", default=None))


default_args = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": _on_failure,
    "pool": POOL,
}
COMMON = dict(
    start_date=pendulum.datetime(2026, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["ntm"],
    doc_md=__doc__,
)


def _var(name: str) -> str | None:
    return Variable.get(name, default=None)


def _ckan() -> tuple[str | None, str | None]:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection("ntm_ckan")
    except Exception:  # no connection configured: NTM_CKAN_URL/NTM_CKAN_TOKEN or the local portal
        return None, None
    return conn.host, conn.password


@task
def validate(run_id: str | None = None) -> dict:
    from ntm import tasks

    return tasks.validate(_var("ntm_data_dir"), run_id)


@task(outlets=[PORTAL])
def publish(validation: dict) -> dict:
    from ntm import tasks

    url, token = _ckan()
    return tasks.publish(validation, _var("ntm_data_dir"), url, token)


# In the one-slot pool, every department's ingest goes before a publish its first asset event
# triggered, so that publish builds on all of the poll's files, not the first department's alone.
FIRST = dict(priority_weight=100, weight_rule="absolute")


@dag(
    dag_id="ntm_ingest",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(SAFETY_POLL, timezone=TZ), assets=[DROPZONE]),
    **COMMON,
)
def ntm_ingest():
    @task(**FIRST)
    def departments(triggering_asset_events=None) -> list[str]:
        from ntm import tasks

        extras = tasks.triggering_extras(triggering_asset_events)
        return tasks.departments_with_new_files(_var("ntm_dropzone"), _var("ntm_data_dir"), extras)

    @task(outlets=[BRONZE], map_index_template="{{ map_label }}", **FIRST)
    def ingest(department: str, run_id: str | None = None) -> dict:
        from ntm import tasks

        return tasks.ingest_department(department, _var("ntm_dropzone"), _var("ntm_data_dir"), run_id)

    @task_group
    def department(name: str):
        # Landed rows are announced by `ingest` even when another file was rejected; the rejection
        # then fails `rejections`, which alerts.
        rejections(ingest(name))

    department.expand(name=departments())


@task(map_index_template="{{ map_label }}")
def rejections(summary: dict) -> dict:
    from ntm import tasks

    return tasks.check_rejections(summary)


@task(outlets=[MARTS])
def transform(full_refresh: bool = False) -> dict:
    from ntm import tasks

    return tasks.transform(_var("ntm_data_dir"), full_refresh=full_refresh)


def _build_check_publish(built) -> None:
    """The tail both publishing DAGs share: the marts built, then validated, then published."""
    checked = validate()
    built >> checked
    publish(checked)


@dag(dag_id="ntm_publish", schedule=[BRONZE], **COMMON)
def ntm_publish():
    _build_check_publish(transform())


@dag(dag_id="ntm_rebuild", schedule=CronTriggerTimetable("0 2 * * 0", timezone=TZ), **COMMON)
def ntm_rebuild():
    @task
    def iceberg() -> dict:
        from ntm import tasks

        return tasks.iceberg(_var("ntm_data_dir"))

    built = transform.override(task_id="transform_full_refresh")(full_refresh=True)
    _build_check_publish(built)
    built >> iceberg()


@dag(dag_id="ntm_freshness", schedule=CronTriggerTimetable("0 6 * * *", timezone=TZ), **COMMON)
def ntm_freshness():
    @task(outlets=[MARTS])
    def freshness() -> dict:
        from ntm import tasks

        return tasks.freshness(_var("ntm_data_dir"))

    _build_check_publish(freshness())


@dag(dag_id="ntm_backfill", schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TZ), **COMMON)
def ntm_backfill():
    @task(outlets=[BRONZE])
    def reread_received(
        data_interval_start=None, data_interval_end=None, run_id: str | None = None, dag_run=None
    ) -> dict:
        from ntm import tasks

        return tasks.backfill(
            data_interval_start,
            data_interval_end,
            _var("ntm_dropzone"),
            _var("ntm_data_dir"),
            run_id,
            run_type=str(dag_run.run_type),
        )

    rejections(reread_received())


ntm_ingest()
ntm_publish()
ntm_rebuild()
ntm_freshness()
ntm_backfill()
