"""A local Airflow for the event-driven tests and the latency benchmark: scheduler, triggerer (it runs
the drop zone's watcher), DAG processor and API server, as `airflow standalone` runs them but each a
process of its own in its own session (stopped with everything it started), on a temp AIRFLOW_HOME,
LocalExecutor with small parallelism (the one-slot `ntm_duckdb` pool runs one task at a time anyway),
the metadata in SQLite; and the few REST calls they need (`/auth/token`, `/api/v2/...`).

Or the Celery setup of docs/celery.md (`celery=CeleryBackend(...)`): CeleryExecutor, the metadata and
Celery's results in PostgreSQL, a Redis broker (`start_redis`, its own, on loopback), two workers with
`--concurrency 1`, each with a task-log port of its own.

Airflow is never imported here: it is started as `python -m airflow`, so importing this module
configures nothing (tests/test_dags.py needs that)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ntm_core.settings import REPO_ROOT, environment_without

PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
POOL, POOL_SLOTS = "ntm_duckdb", 1
# Airflow's simple auth manager: an admin for the test or benchmark, and the portal's own account,
# which may create asset events (role `op`) and nothing of an admin's.
ADMIN, PORTAL_USER = "admin", "ntm_portal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} missing)"


class AirflowError(RuntimeError):
    pass


def start_redis(folder: Path, timeout: float = 20) -> tuple[subprocess.Popen, str]:
    """A Redis of its own on a free loopback port, nothing persisted (Celery's broker): the process
    (in its own session) and its URL."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        + ["--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AirflowError(f"Redis did not start:\n{tail(folder / 'redis.log')}")
        time.sleep(0.2)


class CeleryBackend:
    """What the CeleryExecutor needs besides Airflow (docs/celery.md): a PostgreSQL database for the
    metadata and Celery's results (SQLAlchemy URL, `postgresql+psycopg://...`), a Redis broker URL,
    and how many workers."""

    def __init__(self, db_url: str, broker_url: str, workers: int = 2):
        self.db_url, self.broker_url, self.workers = db_url, broker_url, workers

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            # Airflow's async engine would want asyncpg; psycopg 3 (installed) does async as well.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.db_url.replace("+psycopg:", "+psycopg_async:"),
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url,
        }

    def worker_names(self) -> list[str]:
        return [f"worker-{chr(ord('a') + i)}" for i in range(self.workers)]


class LocalAirflow:
    def __init__(
        self,
        home: Path,
        dropzone: Path,
        data_dir: Path,
        parallelism: int = 2,
        extra_env=None,
        port: int | None = None,
        celery: CeleryBackend | None = None,
    ):
        self.home, self.dropzone, self.data_dir, self.celery = home, dropzone, data_dir, celery
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.passwords = {ADMIN: secrets.token_hex(12), PORTAL_USER: secrets.token_hex(12)}
        self.procs: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        env = environment_without("AIRFLOW")
        env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(parallelism),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN}:admin,{PORTAL_USER}:op",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            # The task and triggerer log servers on free ports too (8793 and 8794 by default).
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            # The scheduler signs each task's token, the API server checks it: one secret for both.
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            # The tasks and the watcher read these (Airflow Variables from the environment, and the
            # pipeline's own settings for anything that does not ask Airflow).
            AIRFLOW_VAR_NTM_DROPZONE=str(dropzone),
            AIRFLOW_VAR_NTM_DATA_DIR=str(data_dir),
            NTM_DROPZONE=str(dropzone),
            NTM_DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(celery.env() if celery else {})
        env.update(extra_env or {})
        self.env = env
        (home / "logs").mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- processes

    def cli(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise AirflowError(f"airflow {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done.stdout

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def start(self, *names: str) -> None:
        for name in names:
            self._start(name, [name])

    def start_workers(self) -> None:
        """The Celery workers, one task at a time each, each with its node name and a task-log port
        of its own (two workers on one machine cannot share 8793)."""
        for name in self.celery.worker_names():
            args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
            self._start(name, args, {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        with self.log(name).open("a") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.home,
            )

    def stop(self, *names: str, timeout: float = 20) -> None:
        """Stop the named processes (all when none is named), each with everything it started."""
        # Workers first: nothing is left to run when the scheduler goes.
        for name in names or sorted(self.procs, key=lambda n: not n.startswith("worker")):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    if sig == signal.SIGTERM:  # its children may outlive it: the group goes too
                        os.killpg(proc.pid, signal.SIGKILL)
                    break
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    continue

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{tail(self.log(name), 15)}" for name in self.procs if self.log(name).exists())

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AirflowError(f"airflow {name} exited ({proc.returncode}):\n{tail(self.log(name))}")

    def wait(self, what: str, condition, timeout: float, every: float = 0.5):
        deadline = time.monotonic() + timeout
        while True:
            found = condition()
            if found:
                return found
            self.check_alive()
            if time.monotonic() > deadline:
                raise AirflowError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(every)

    def up(self, timeout: float = 240) -> LocalAirflow:
        """Metadata database, the pool, the passwords; then the four processes, until the API answers
        and the DAGs are parsed."""
        self.cli("db", "migrate")
        self.cli("pools", "set", POOL, str(POOL_SLOTS), "one DuckDB writer at a time")
        (self.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps(self.passwords))
        self.start(*PROCESSES)
        if self.celery:
            self.start_workers()
            ready = lambda: all(" ready." in tail(self.log(w), 200) for w in self.celery.worker_names())  # noqa: E731
            self.wait("the Celery workers", ready, timeout)
        self.wait("the API server", self._healthy, timeout)
        self.wait("the DAGs to be parsed", lambda: self._dag_known("ntm_ingest"), timeout)
        return self

    def watching(self) -> bool:
        """The triggerer runs the drop zone's watcher (it starts it a while after the DAG is unpaused)."""
        log = self.log("triggerer")
        return log.exists() and any(
            "trigger ID" in line and "starting" in line for line in log.read_text(errors="replace").splitlines()
        )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=3) as r:
                return r.status == 200
        except OSError:
            return False

    def _dag_known(self, dag_id: str) -> bool:
        try:
            self.api("GET", f"/api/v2/dags/{dag_id}")
            return True
        except AirflowError:
            return False

    # ---------------------------------------------------------------- REST

    def token(self) -> str:
        if not self._token:
            body = {"username": ADMIN, "password": self.passwords[ADMIN]}
            self._token = self._request("POST", "/auth/token", body)["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None, **query) -> dict:
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self._request(method, path, body, self.token())

    def _request(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise AirflowError(f"{method} {path}: HTTP {err.code} {err.read()[:300]!r}") from None
        except OSError as err:
            raise AirflowError(f"{method} {path}: {err}") from None

    def pause(self, dag_id: str, paused: bool = True) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="id")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances", limit=100)["task_instances"]

    def upstream_events(self, dag_id: str, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/upstreamAssetEvents")["asset_events"]
