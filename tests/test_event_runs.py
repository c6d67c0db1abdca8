"""Event-driven runs with a real Airflow (#31): scheduler, triggerer, DAG processor and API server on a
temp AIRFLOW_HOME, LocalExecutor (ntm.airflow_local), the project's DAGs, a temp drop zone and data
dir. What is checked is what lands (the ledger and the bronze rows of each run), not exit codes:

(a) a file written into the drop zone starts an `ntm_ingest` run through the watcher, the hourly
    poll nowhere near; (b) three files written close together land in one or two runs, each once;
(c) a file written while `ntm_ingest` is paused lands once it is unpaused; (d) with the triggerer
    stopped (no watcher), the asset event the portal sends through the REST API when it accepts a
    submission (ckanext-ntm's own client, `airflow_events.py`) starts the run of the department it
    names.

(e) a department submits a file on the real local portal, which tells Airflow: exactly one `ntm_ingest`
    run follows, whose ingest of that department lands the file, and no run after it that finds
    nothing (the fetched file, dated back, is claimed before the watcher can see it, #31).

Publishing is left out: `ntm_publish` stays paused and, but in (e), the portal the `departments` task
asks for submissions is an unreachable URL (it logs that and goes on): only ingest is checked here;
the latency benchmark (benchmarks/bench_event_latency.py) goes on to the portal's DataStore."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import uuid

import duckdb
import pytest
import requests
from helpers import REPO, sample

from ntm.airflow_local import PORTAL_USER, LocalAirflow, free_port
from ntm.watch import DROPZONE_URI

pytestmark = pytest.mark.scale

DAG = "ntm_ingest"
LAND_SECONDS = 90  # a file written to its rows in bronze: about 15 s on 2 idle cores


def _portal_client():
    """The portal's REST client, loaded from its file: the CKAN extension lives in the portal's own
    environment, and this module uses the standard library only."""
    path = REPO / "portal" / "ckanext-ntm" / "ckanext" / "ntm" / "airflow_events.py"
    spec = importlib.util.spec_from_file_location("ntm_portal_airflow_events", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    dropzone, data_dir = root / "dropzone", root / "data"
    dropzone.mkdir()
    data_dir.mkdir()
    closed = free_port()  # nothing listens there: the submissions fetch says so and goes on
    env = {"NTM_CKAN_URL": f"http://127.0.0.1:{closed}", "NTM_CKAN_TOKEN": "unused"}
    af = LocalAirflow(root / "airflow", dropzone, data_dir, extra_env=env)
    try:
        af.up()
        af.pause(DAG, False)
        # Unpaused, the hourly poll's latest tick runs at once (on an empty drop zone): let it end, so
        # that every run after it is one an event started.
        af.wait("the first poll", lambda: af.runs(DAG) and all(r["state"] == "success" for r in af.runs(DAG)), 120)
        af.wait("the triggerer to run the watcher", af.watching, 120)
        yield af
    finally:
        af.stop()


def _write(af: LocalAirflow, department: str, dataset: str, name: str | None = None):
    """A department's file written now (not aged: the watcher waits until it is stable)."""
    source = sample(department, dataset)
    target = af.dropzone / department / dataset / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _ledger(af: LocalAirflow) -> list[dict]:
    path = af.data_dir / "ledger.parquet"
    if not path.exists():
        return []
    try:
        return duckdb.sql(f"select file_name, status, rows_landed, run_id from '{path}'").df().to_dict("records")
    except duckdb.Error:  # being replaced right now
        return []


def _landed(af: LocalAirflow, *names: str) -> dict[str, list[dict]] | None:
    """Each named file's ledger entries, once every one of them has landed."""
    entries = {n: [e for e in _ledger(af) if e["file_name"] == n] for n in names}
    if all(any(e["status"] == "landed" for e in found) for found in entries.values()):
        return entries
    return None


def _bronze_rows(af: LocalAirflow, run_id: str) -> int:
    files = list((af.data_dir / "bronze").rglob("*.parquet"))
    paths = ", ".join(f"'{p}'" for p in files)
    return duckdb.sql(
        f"select count(*) from read_parquet([{paths}], union_by_name=true) where _run_id = ?", params=[run_id]
    ).fetchone()[0]


def _run(af: LocalAirflow, run_id: str) -> dict:
    return next(r for r in af.runs(DAG) if r["dag_run_id"] == run_id)


def _runs_since(af: LocalAirflow, started: float) -> list[dict]:
    import datetime as dt

    since = dt.datetime.fromtimestamp(started - 1, dt.UTC).isoformat()
    return [r for r in af.runs(DAG) if r["queued_at"] and r["queued_at"] >= since[:19]]


def _settled(af: LocalAirflow) -> None:
    """No ntm_ingest run queued or running."""
    af.wait("ntm_ingest to be idle", lambda: all(r["state"] not in ("queued", "running") for r in af.runs(DAG)), 120)


def test_a_dropped_file_starts_a_run_through_the_watcher(airflow):
    af = airflow
    started = time.monotonic()
    target = _write(af, "so-khcn-son-la", "digital_infrastructure")
    entries = af.wait("the dropped file to land", lambda: _landed(af, target.name), LAND_SECONDS)
    waited = time.monotonic() - started
    (entry,) = entries[target.name]
    run = _run(af, entry["run_id"])
    assert run["run_type"] == "asset_triggered", run  # the watcher's event, not the hourly poll
    (event,) = af.upstream_events(DAG, run["dag_run_id"])
    assert event["extra"]["from_trigger"] and event["extra"]["payload"]["departments"] == ["so-khcn-son-la"]
    assert entry["rows_landed"] > 0 and _bronze_rows(af, run["dag_run_id"]) == entry["rows_landed"]
    print(f"\nwritten → landed through the watcher: {waited:.1f} s")
    _settled(af)


def test_three_files_close_together_land_in_one_or_two_runs_each_once(airflow):
    af = airflow
    _settled(af)
    started = time.time()
    files = [
        _write(af, "so-khcn-dong-thap", "digital_infrastructure"),
        _write(af, "so-khcn-thai-nguyen", "community_digital_teams"),
        _write(af, "so-nnmt-son-la", "growing_area_codes"),
    ]
    names = [f.name for f in files]
    entries = af.wait("the three files to land", lambda: _landed(af, *names), LAND_SECONDS)
    _settled(af)
    entries = _landed(af, *names)
    assert {n: len(e) for n, e in entries.items()} == dict.fromkeys(names, 1)  # each landed once
    landing_runs = {e[0]["run_id"] for e in entries.values()}
    runs = _runs_since(af, started)
    assert 1 <= len(runs) <= 2 and landing_runs <= {r["dag_run_id"] for r in runs}, runs
    assert all(r["run_type"] == "asset_triggered" for r in runs)
    for run_id in landing_runs:
        landed_by_run = sum(e[0]["rows_landed"] for e in entries.values() if e[0]["run_id"] == run_id)
        assert _bronze_rows(af, run_id) == landed_by_run


def test_a_file_written_while_ingest_is_paused_lands_once_unpaused(airflow):
    af = airflow
    _settled(af)
    af.pause(DAG)
    try:
        target = _write(af, "so-nnmt-dong-thap", "cooperatives")
        time.sleep(6)  # stable for 2 s, watched every second: its event came while paused
        assert _landed(af, target.name) is None
    finally:
        af.pause(DAG, False)
    # Airflow queues no run for a paused DAG's asset event: the watcher announces the file again
    # (DropZoneTrigger.reannounce_seconds) and the run it starts lands it.
    entries = af.wait("the file to land after unpausing", lambda: _landed(af, target.name), LAND_SECONDS)
    (entry,) = entries[target.name]
    assert _run(af, entry["run_id"])["run_type"] == "asset_triggered"
    _settled(af)


def test_a_submission_event_through_the_rest_api_starts_its_department_run(airflow):
    af = airflow
    _settled(af)
    af.stop("triggerer")  # no watcher: only the portal's event can start the run
    client = _portal_client()
    department = "vp-ntm-dong-thap"
    target = _write(af, department, "commune_criteria")
    # Complete before the department announces it. Without the watcher nothing else reads a file the
    # run finds still settling (written under SETTLE_SECONDS ago): it would wait for the hourly poll.
    # The run now reaches it within 2 s of its write.
    old = time.time() - 60
    os.utime(target, (old, old))
    creds = client.credentials({client.ENV_USERNAME: PORTAL_USER, client.ENV_PASSWORD: af.passwords[PORTAL_USER]})
    event = client.notify(af.url, DROPZONE_URI, client.submission_extra(department, "commune_criteria", "r1"), creds)
    assert event["extra"]["departments"] == [department] and event["extra"]["from_rest_api"]

    entries = af.wait("the named department's file to land", lambda: _landed(af, target.name), LAND_SECONDS)
    (entry,) = entries[target.name]
    (upstream,) = af.upstream_events(DAG, entry["run_id"])
    assert upstream["id"] == event["id"]
    ingests = [ti for ti in af.task_instances(DAG, entry["run_id"]) if ti["task_id"] == "department.ingest"]
    assert [ti["rendered_map_index"] for ti in ingests] == [department]
    # The run read the department from its triggering event (and fetched its submissions only).
    (log,) = (af.home / "logs" / f"dag_id={DAG}" / f"run_id={entry['run_id']}" / "task_id=departments").rglob("*.log")
    assert f"named by the triggering events: {department}" in log.read_text()

    # Wrong credentials: the client says which step failed, and no secret.
    wrong = {"username": PORTAL_USER, "password": "not-the-password"}
    with pytest.raises(client.NotifyError) as failed:
        client.notify(af.url, DROPZONE_URI, client.submission_extra(department, "x", "r2"), wrong)
    assert str(failed.value) == "token: HTTP 401" and "not-the-password" not in str(failed.value)


# ---------------------------------------------------------------- (e) a submission on the real portal

QUIET_SECONDS = 45  # longer than the watcher's re-announcement (30 s): a second run would show by then


@pytest.fixture(scope="module")
def airflow_told_by_the_portal(tmp_path_factory, ckan):
    """A LocalAirflow whose tasks fetch from the local portal, and the portal restarted with this
    Airflow's URL and account, as a deployment sets them: each accepted submission raises the event."""
    from ntm.local_portal import local_portal
    from ntm_core.settings import ckan_credentials

    root = tmp_path_factory.mktemp("submission-events")
    dropzone, data_dir = root / "dropzone", root / "data"
    dropzone.mkdir()
    data_dir.mkdir()
    url, token = ckan_credentials()
    af = LocalAirflow(root / "airflow", dropzone, data_dir, extra_env={"NTM_CKAN_URL": url, "NTM_CKAN_TOKEN": token})
    told = {"NTM_AIRFLOW_URL": af.url, "NTM_AIRFLOW_USERNAME": PORTAL_USER, "NTM_AIRFLOW_PASSWORD": ""}
    before = {k: os.environ.get(k) for k in told}
    portal = local_portal()
    try:
        af.up()
        told["NTM_AIRFLOW_PASSWORD"] = af.passwords[PORTAL_USER]
        os.environ.update(told)
        portal.down()
        portal.up()
        af.pause(DAG, False)
        af.wait("the first poll", lambda: af.runs(DAG) and all(r["state"] == "success" for r in af.runs(DAG)), 120)
        af.wait("the triggerer to run the watcher", af.watching, 120)
        yield af
    finally:
        af.stop()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        portal.down()
        portal.up()


@pytest.mark.portal
def test_one_submission_gives_one_ingest_run_and_no_empty_run_after_it(airflow_told_by_the_portal, ckan):
    from ntm_core.departments import organization
    from publish.ckan import ensure_organization

    af, department, dataset = airflow_told_by_the_portal, "so-khcn-dong-thap", "digital_infrastructure"
    ensure_organization(ckan, department, organization(department))
    name = f"t{uuid.uuid4().hex[:8]}"
    user = ckan.action.user_create(name=name, email=f"{name}@localhost", password=uuid.uuid4().hex)
    try:
        ckan.action.member_create(id=department, object=user["id"], object_type="user", capacity="editor")
        token = ckan.action.api_token_create(user=name, name="submit")["token"]
        source = sample(department, dataset)
        started = time.time()
        answer = requests.post(
            f"{ckan.address}/api/3/action/ntm_submit",
            headers={"Authorization": token},
            data={"department": department, "dataset": dataset},
            files={"upload": (source.name, source.read_bytes())},
            timeout=300,
        )
        result = answer.json()["result"]
        assert result["verdict"] == "lands" and result["airflow_notified"], result

        entries = af.wait("the submitted file to land", lambda: _landed(af, source.name), LAND_SECONDS)
        (entry,) = entries[source.name]
        time.sleep(QUIET_SECONDS)
        _settled(af)
        runs = _runs_since(af, started)
        # Exactly one run: the portal's event's, and nothing the watcher started after it.
        assert [r["dag_run_id"] for r in runs] == [entry["run_id"]], runs
        (event,) = af.upstream_events(DAG, entry["run_id"])
        assert event["extra"]["from_rest_api"] and event["extra"]["departments"] == [department]
        ingests = [ti for ti in af.task_instances(DAG, entry["run_id"]) if ti["task_id"] == "department.ingest"]
        assert [(ti["rendered_map_index"], ti["state"]) for ti in ingests] == [(department, "success")]
        assert entry["rows_landed"] > 0 and _bronze_rows(af, entry["run_id"]) == entry["rows_landed"]
    finally:
        ckan.action.user_delete(id=name)
        try:
            ckan.action.dataset_purge(id=f"ntm-nop-{department}")
        except Exception:  # noqa: BLE001 - nothing submitted
            pass
