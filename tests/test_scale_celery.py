"""Airflow on Celery (docs/celery.md): the project's DAGs, unchanged, run by Airflow's CeleryExecutor
with a Redis broker on loopback and two Celery workers, against the real local portal. The metadata
database is PostgreSQL (a database of its own on the local portal's server, dropped afterwards):
SQLite is for development and cannot take the writes of a scheduler, an API server and two workers'
Celery results at once.

Checked: the sample drop zone goes ntm_ingest → asset → ntm_publish to the portal; task instances ran
on both workers; the one-slot pool `ntm_duckdb` kept DuckDB to one writer at a time across workers
(no two task instances overlap); and the portal ends as it does after the same samples published by
one process (`ntm.pipeline.run_all`): the same datasets, row counts and content hashes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from helpers import REPO, SAMPLES

from ntm import pipeline
from ntm.airflow_local import free_port, tail
from ntm_core import settings
from publish.metadata import portal_descriptions, portal_yaml

pytestmark = [pytest.mark.scale, pytest.mark.portal]

WORKERS = ("worker-a", "worker-b")
DAGS = ("ntm_ingest", "ntm_publish")
WAIT_SECONDS = 600  # the flow on Celery, trigger to the last publish: about 5 minutes on 2 cores
# The freshness mart records when each file was received: the one thing two runs cannot share.
RECEIPT_COLUMNS = {"fact_dataset_freshness": {"last_received"}}

# Two workers on one machine report the same FQDN; in the test each reports its Celery node name
# (`--celery-hostname`) as the task instance's hostname, so the metadata shows who ran what.
HOSTNAME_SHIM = '''
import socket


def hostname() -> str:
    """The Celery node name of the worker running the current task (worker-a@host), else the FQDN."""
    from celery import current_task

    request = current_task.request if current_task else None
    return getattr(request, "hostname", None) or socket.getfqdn()
'''


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a process started in its own session, and everything it started (its process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:  # children left behind by a process that has exited (task supervisors, pool children)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(5)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def broker(tmp_path):
    """A Redis of its own on a free loopback port: Celery's broker, nothing persisted."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (Debian's `redis-server` package): no Celery broker")
    port, folder = free_port(), tmp_path / "redis"
    folder.mkdir()
    log = folder / "redis.log"
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        + ["--save", "", "--appendonly", "no", "--logfile", str(log)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, f"Redis did not start:\n{tail(log)}"
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@pytest.fixture
def metadata_db(portal_pg_database):
    """Airflow's metadata in PostgreSQL (several processes write it at once), in a database of its
    own on the local portal's server."""
    return portal_pg_database


class Cluster:
    """An Airflow on Celery: scheduler, DAG processor, API server, two workers; each in its own
    process group, logging to <home>/logs/<name>.log."""

    def __init__(self, home: Path, env: dict[str, str], db_url: str):
        self.home, self.env, self.procs = home, env, {}
        self.conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
        (home / "logs").mkdir(parents=True, exist_ok=True)

    def airflow(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        failed = f"airflow {' '.join(args[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert done.returncode == 0, failed
        return done.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.home / "logs" / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.home,
        )
        log.close()

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"airflow {name} exited ({proc.returncode}):\n{tail(self.log(name))}"

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{tail(self.log(name), 15)}" for name in self.procs)

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.conninfo) as con:
            return con.execute(query, params).fetchall()

    def wait(self, what: str, condition, timeout: float, every: float = 3) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive()
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}"
            time.sleep(every)

    def stop(self) -> None:
        # Workers first (nothing is left to run), then the scheduler and the rest.
        for name in sorted(self.procs, key=lambda n: (not n.startswith("worker"), n)):
            _stop(self.procs[name])


@pytest.fixture
def cluster(tmp_path, broker, metadata_db, prefix, ckan):
    """Airflow configured as docs/celery.md says, in a temp AIRFLOW_HOME, its DAGs unpaused and
    pointed at a copy of the sample drop zone, a temp data dir and the local portal."""
    home, dropzone, data_dir, shim = (tmp_path / d for d in ("airflow", "dropzone", "data", "shim"))
    shutil.copytree(SAMPLES, dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):  # old enough to be picked up (the settle wait)
        os.utime(path, (path.stat().st_mtime - 60,) * 2)
    data_dir.mkdir()
    shim.mkdir()
    (shim / "ntm_celery_hostname.py").write_text(HOSTNAME_SHIM)
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_db,
        # Airflow's async engine would want asyncpg; psycopg 3 (installed) does async as well.
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=metadata_db.replace("+psycopg:", "+psycopg_async:"),
        AIRFLOW__CELERY__BROKER_URL=broker,
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + metadata_db,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        # The scheduler signs each task's token, the API server checks it: one secret for both.
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        AIRFLOW__API__SECRET_KEY=uuid.uuid4().hex,
        NTM_DATASET_PREFIX=prefix,
        PYTHONPATH=os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    c = Cluster(home, env, metadata_db)
    try:
        c.airflow("db", "migrate", timeout=300)
        c.airflow("pools", "set", "ntm_duckdb", "1", "one DuckDB writer at a time")
        c.airflow("variables", "set", "ntm_dropzone", str(dropzone))
        c.airflow("variables", "set", "ntm_data_dir", str(data_dir))
        url, token = settings.ckan_credentials()
        connection = json.dumps({"conn_type": "http", "host": url, "password": token})
        c.airflow("connections", "add", "ntm_ckan", "--conn-json", connection)
        c.start("api-server", "api-server")
        c.start("scheduler", "scheduler")
        c.start("dag-processor", "dag-processor")
        for name in WORKERS:
            c.start(
                name,
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                "1",
                env={
                    # Each worker serves its task logs on a port of its own (they share a machine).
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ntm_celery_hostname.hostname",
                },
            )
        c.wait("the API server", lambda: _healthy(api_port), 180)
        c.wait(
            "both Celery workers",
            lambda: all(" ready." in c.log(w).read_text(errors="replace") for w in WORKERS),
            180,
        )
        c.wait(
            "the DAGs to be parsed",
            lambda: len(c.sql("select dag_id from serialized_dag where dag_id = any(%s)", list(DAGS))) == 2,
            180,
        )
        for dag_id in DAGS:
            c.airflow("dags", "unpause", dag_id)
        c.dropzone, c.data_dir = dropzone, data_dir
        yield c
    finally:
        c.stop()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


# ------------------------------------------------------------------------------------ helpers


def _runs(c: Cluster) -> list[tuple[str, str, str]]:
    return c.sql("select dag_id, run_id, state from dag_run where dag_id = any(%s) order by id", list(DAGS))


def _published(c: Cluster, ingest_run: str) -> bool:
    """The triggered ingest run is over (and every run before it: they run one at a time), every
    asset event was consumed by an ntm_publish run, and the last of those succeeded. The scheduled
    polls that follow (every 5 minutes) find nothing new and announce nothing: not waited for."""
    runs = _runs(c)
    state = {run: s for dag, run, s in runs if dag == "ntm_ingest"}.get(ingest_run)
    assert state in (None, "queued", "running", "success"), f"{ingest_run}: {state}\n{c.logs()}"
    publish = [s for dag, _, s in runs if dag == "ntm_publish"]
    if state != "success" or not publish or publish[-1] in ("queued", "running"):
        return False
    if c.sql("select 1 from asset_dag_run_queue where target_dag_id = 'ntm_publish'"):
        return False
    assert publish[-1] == "success", f"ntm_publish runs: {publish}\n{c.logs()}"
    return True


def _trigger_ingest(c: Cluster) -> str:
    run_id = "celery-" + uuid.uuid4().hex[:8]
    c.airflow("dags", "trigger", "ntm_ingest", "--run-id", run_id)
    return run_id


def _task_instances(c: Cluster) -> list[tuple]:
    """Every try of every task instance of the two DAGs (retried tries live in the history table)."""
    columns = "dag_id, run_id, task_id, map_index, try_number, state, pool, hostname, start_date, end_date"
    where = "where dag_id = any(%s)"
    return c.sql(
        f"select {columns} from task_instance {where} union all select {columns} from task_instance_history {where}",
        list(DAGS),
        list(DAGS),
    )


def _portal_state(ckan, prefix: str) -> dict[str, dict]:
    """Each dataset under `prefix` (the prefix cut off): its rows in the DataStore, its content hash,
    and, for a mart recording receipt times, its records without them."""
    state = {}
    for name in sorted(n for n in ckan.action.package_list() if n.startswith(prefix)):
        package = ckan.action.package_show(id=name)
        csv = next((r for r in package["resources"] if r.get("ntm_kind") == "csv"), None)
        found = {"hash": package.get("ntm_content_hash"), "rows": None}
        if csv:
            drop = RECEIPT_COLUMNS.get(package.get("ntm_mart"))
            page = ckan.action.datastore_search(resource_id=csv["id"], limit=10000 if drop else 0)
            found["rows"] = page["total"]
            if drop:  # its hash differs by the receipt times alone: its records are compared instead
                records = [{k: v for k, v in r.items() if k not in drop | {"_id"}} for r in page["records"]]
                found["hash"] = None
                found["records"] = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records)
        state[name[len(prefix) :]] = found
    return state


@pytest.fixture
def one_process_state(tmp_path, ckan, prefix):
    """The portal's datasets after the same samples are published by one process (another prefix)."""
    other = "t" + uuid.uuid4().hex[:6] + "-one-process-"
    dropzone, data_dir = tmp_path / "one" / "dropzone", tmp_path / "one" / "data"
    shutil.copytree(SAMPLES, dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):
        os.utime(path, (path.stat().st_mtime - 60,) * 2)
    os.environ["NTM_DATASET_PREFIX"] = other
    try:
        result = pipeline.run_all(dropzone, data_dir)
        assert result.transform.success, result.transform.failures
        assert result.validation.blocked == [] and not result.publish.refused
        state = _portal_state(ckan, other)
        # Every mart's dataset (meta.portal of its dbt YAML) and every map of maps.yaml, with rows: a
        # comparison worth making.
        marts = portal_descriptions(data_dir).values()
        expected = {meta["name"] for meta in [*marts, *portal_yaml("maps.yaml").values()]}
        assert set(state) == expected, set(state) ^ expected
        assert all(d["rows"] for d in state.values() if d["rows"] is not None), state
        yield state
    finally:
        os.environ["NTM_DATASET_PREFIX"] = prefix
        for name in ckan.action.package_list():
            if name.startswith(other):
                ckan.action.dataset_purge(id=name)


# ------------------------------------------------------------------------------------ the test


def test_two_celery_workers_publish_what_one_process_publishes(one_process_state, cluster, ckan, prefix):
    c = cluster
    started = time.monotonic()
    run_id = _trigger_ingest(c)
    c.wait("ntm_ingest → ntm_publish", lambda: _published(c, run_id), WAIT_SECONDS, every=5)
    flow_seconds = time.monotonic() - started

    # Both workers took tasks. The scheduler does not choose the worker (whichever is free takes the
    # next message); should one have taken everything, polls with nothing new give the other a turn.
    def hostnames():
        return {ti[7] for ti in _task_instances(c) if ti[7]}

    for _ in range(3):
        if len(hostnames()) >= 2:
            break
        again = _trigger_ingest(c)
        c.wait(f"ntm_ingest run {again}", lambda run=again: _published(c, run), 300, every=5)
    assert {h.split("@")[0] for h in hostnames()} == set(WORKERS), hostnames()

    tis = _task_instances(c)
    assert {ti[6] for ti in tis} == {"ntm_duckdb"}
    # Tries a worker ran (the scheduler itself marks a task skipped after a skipped one, on no host).
    ran = [ti for ti in tis if ti[7] and ti[8] is not None]
    departments = len([p for p in c.dropzone.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))])
    assert len(ran) >= 1 + 2 * departments + 3  # departments; per department an ingest and a check; publish
    # One DuckDB writer at a time, whichever worker: no two tries overlap in [start_date, end_date].
    # (A later scheduled poll may be running now: its task ends no earlier than now.)
    now = dt.datetime.now(dt.UTC)
    spans = sorted((ti[8], ti[9] or now, f"{ti[0]}.{ti[2]}[{ti[3]}]#{ti[4]}@{ti[7]}") for ti in ran)
    overlaps, busy_until, holder = [], None, None
    for start, end, name in spans:
        if busy_until is not None and start < busy_until:
            overlaps.append((holder, name))
        if busy_until is None or end > busy_until:
            busy_until, holder = end, name
    assert overlaps == [], overlaps
    by_worker = {w: sum(1 for ti in ran if (ti[7] or "").startswith(w + "@")) for w in WORKERS}
    publish_runs = [state for dag, _, state in _runs(c) if dag == "ntm_publish"]
    print(f"\nCelery flow: {flow_seconds:.0f} s; tries by worker: {by_worker}; ntm_publish runs: {publish_runs}")

    # The portal ends as after one process: same datasets, rows and content.
    assert _portal_state(ckan, prefix) == one_process_state
