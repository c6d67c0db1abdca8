"""From a department's file to its rows in the portal's DataStore, through Airflow's event-driven runs
(#31): the time from a file written into the drop zone (and from a submission accepted by the portal,
with `--submissions`) until `datastore_search` answers its rows, with each stage's time from Airflow's
task instances. Writes benchmarks/RESULTS_events.md.

Airflow as ntm.airflow_local starts it (scheduler, triggerer running the drop zone's watcher, DAG
processor, API server; parallelism 2, the one-slot `ntm_duckdb` pool), the project's DAGs unpaused,
on a copy of the sample drop zone published once to the local portal under a prefix of its own
(NTM_PORTAL_* say which portal; `ntm portal up` first). `--executor local`: LocalExecutor, the
metadata in SQLite; `--executor celery`: the setup of docs/celery.md (CeleryExecutor, two workers
with `--concurrency 1`, a Redis broker of its own, the metadata and Celery's results in a PostgreSQL
database of its own on the portal's server, dropped afterwards). Then, one at a time, a new file of
Đồng Tháp's digital infrastructure with one commune's figure changed to a value no other row has:
timed until a `datastore_search` of the published table returns that value.

    uv run python benchmarks/bench_event_latency.py [--executor local|celery] [--drops 10] [--submissions 10]

Each run keeps its rows, with the tree it measured (commit and a hash of the uncommitted changes), in
benchmarks/results_events.json under its executor, and writes RESULTS_events.md from every executor
kept there, so the two executors' figures stand side by side.

The hourly poll alone is not run (it would take hours): its latency is computed from the measured
stage times plus the poll's wait (half the interval on average, the whole interval at worst), beside
the old `*/5` poll's."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPARTMENT, DATASET = "so-khcn-dong-thap", "digital_infrastructure"
SOURCE = REPO / "samples" / "dropzone" / DEPARTMENT / DATASET / "HaTangSo_HuyenCaoLanh_2023.csv"
PACKAGE = "ntm-ha-tang-so-cap-xa"  # the mart the file feeds (fact_digital_infrastructure)
MARKED_COMMUNE = "30076"
WIFI_COLUMN = 8  # "Số điểm wifi công cộng miễn phí": the figure changed, to 7000 + the drop's number
WIFI_FIELD = "free_wifi_points"  # its column in the published table
DEADLINE = 300  # seconds a drop may take before the benchmark gives up on it
STAGES = (
    ("wait for trigger", None),
    ("departments", ("ntm_ingest", "departments")),
    ("ingest", ("ntm_ingest", "department.ingest")),
    ("transform", ("ntm_publish", "transform")),
    ("validate", ("ntm_publish", "validate")),
    ("publish", ("ntm_publish", "publish")),
)
POLLS = {"*/5 (before #31)": 300, "hourly (safety net)": 3600}
GOAL_MEDIAN, GOAL_WORST = 30, 60


def marked_file(value: int) -> bytes:
    """The sample file with one commune's wifi points set to `value`."""
    lines = SOURCE.read_text(encoding="utf-8-sig").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(";")
        if cells[0] == MARKED_COMMUNE:
            cells[WIFI_COLUMN] = str(value)
        out.append(";".join(cells))
    return ("\ufeff" + "\n".join(out) + "\n").encode("utf-8")


def _parse(ts: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None


EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor (docs/celery.md, two workers)"}


def tree_state() -> dict:
    """The commit measured and a hash of the changes not committed yet (other work in the tree)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    diff = git("diff", "HEAD")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted_files": len(git("diff", "HEAD", "--name-only").split()),
        "uncommitted_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
    }


class CeleryServices:
    """The broker and the metadata database of the Celery setup, made for the benchmark and removed."""

    def __init__(self, work: Path):
        import psycopg

        from ntm.airflow_local import start_redis
        from ntm_core.settings import portal_pg_port

        self.redis, self.broker_url = start_redis(work / "redis")
        self.name = f"bench_events_{uuid.uuid4().hex[:8]}"
        self.admin = f"host=127.0.0.1 port={portal_pg_port()} user=postgres dbname=postgres"
        with psycopg.connect(self.admin, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {self.name}")
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:{portal_pg_port()}/{self.name}"

    def close(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        os.killpg(self.redis.pid, 9)
        self.redis.wait(5)


class Bench:
    def __init__(self, work: Path, prefix: str, port: int, celery=None):
        from ntm.airflow_local import CeleryBackend, LocalAirflow
        from ntm_core.settings import ckan_credentials

        self.prefix = prefix
        self.dropzone, self.data_dir = work / "dropzone", work / "data"
        shutil.copytree(REPO / "samples" / "dropzone", self.dropzone, ignore=shutil.ignore_patterns("_reports"))
        for path in self.dropzone.rglob("*"):  # old enough to be read at once
            os.utime(path, (time.time() - 120,) * 2)
        self.data_dir.mkdir()
        url, token = ckan_credentials()
        self.af = LocalAirflow(
            work / "airflow",
            self.dropzone,
            self.data_dir,
            extra_env={"NTM_DATASET_PREFIX": prefix, "NTM_CKAN_URL": url, "NTM_CKAN_TOKEN": token},
            port=port,
            celery=CeleryBackend(celery.db_url, celery.broker_url) if celery else None,
        )
        import ckanapi

        self.ckan = ckanapi.RemoteCKAN(url, apikey=token)

    def idle(self) -> bool:
        return all(
            r["state"] not in ("queued", "running") for d in ("ntm_ingest", "ntm_publish") for r in self.af.runs(d)
        )

    def quiet(self, seconds: float) -> bool:
        """No run queued or running for `seconds` on end (the scheduler makes a queued asset event's
        run within a second or two of the last run's end)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self.idle():
                return False
            time.sleep(0.5)
        return True

    def start(self) -> None:
        self.af.up()
        for dag in ("ntm_ingest", "ntm_publish"):
            self.af.pause(dag, False)
        started = time.monotonic()
        # The first poll lands every sample; its publish builds and publishes every mart.
        self.af.wait("the first poll and its publish", lambda: self.af.runs("ntm_publish") and self.quiet(5), 900, 2)
        failed = [
            r["dag_run_id"] for d in ("ntm_ingest", "ntm_publish") for r in self.af.runs(d) if r["state"] != "success"
        ]
        print(f"samples landed and published: {time.monotonic() - started:.0f} s; runs not successful: {failed}")
        self.af.wait("the triggerer to run the watcher", self.af.watching, 300)
        package = self.ckan.action.package_show(id=self.prefix + PACKAGE)
        self.resource = next(r["id"] for r in package["resources"] if r.get("datastore_active"))

    def answers(self, value: int) -> bool:
        try:
            page = self.ckan.action.datastore_search(resource_id=self.resource, filters={WIFI_FIELD: value}, limit=1)
        except Exception:  # noqa: BLE001 - the table being reloaded: ask again
            return False
        return page["total"] > 0

    def drop(self, i: int, submit=None) -> dict:
        value = 7000 + i
        self.af.wait("ntm_ingest and ntm_publish to be idle", lambda: self.quiet(3), DEADLINE, 0.5)
        name = f"HaTangSo_HuyenCaoLanh_2023_lan{i:02d}.csv"
        if submit:
            sent, written = submit(name, marked_file(value))
        else:
            target = self.dropzone / DEPARTMENT / DATASET / name
            sent = time.time()
            target.write_bytes(marked_file(value))
            written = time.time()
        while not self.answers(value):
            if time.time() - written > DEADLINE:
                raise TimeoutError(f"drop {i}: not answered after {DEADLINE} s\n{self.af.logs()}")
            time.sleep(0.25)
        total = time.time() - written
        self.af.wait("the runs to end", self.idle, DEADLINE, 0.5)  # the publish task ends after the load
        # A second run after the file's own (the watcher announcing it again) shows within the next
        # drop's quiet wait; counted here over the runs queued since it was sent.
        self.quiet(5)
        since = dt.datetime.fromtimestamp(sent, dt.UTC)
        runs = sum(1 for r in self.af.runs("ntm_ingest") if _parse(r["queued_at"]) >= since)
        return {"total": total, **self.stages(sent, written), "ingest runs": runs}

    def stages(self, sent: float, written: float) -> dict:
        """Each stage's time from the task instances of the runs that carried the file (the first of
        each DAG queued after it was sent)."""
        since = dt.datetime.fromtimestamp(sent, dt.UTC)
        ingest = next(r for r in self.af.runs("ntm_ingest") if _parse(r["queued_at"]) >= since)
        publish = next(r for r in self.af.runs("ntm_publish") if _parse(r["queued_at"]) >= since)
        at = dt.datetime.fromtimestamp(written, dt.UTC)
        found = {"wait for trigger": (_parse(ingest["queued_at"]) - at).total_seconds()}
        for run, dag in ((ingest, "ntm_ingest"), (publish, "ntm_publish")):
            for ti in self.af.task_instances(dag, run["dag_run_id"]):
                start, end = _parse(ti["start_date"]), _parse(ti["end_date"])
                if start and end:
                    found[ti["task_id"]] = found.get(ti["task_id"], 0) + (end - start).total_seconds()
        found["ingest run"] = (_parse(ingest["end_date"]) - _parse(ingest["queued_at"])).total_seconds()
        found["publish run"] = (_parse(publish["end_date"]) - _parse(publish["queued_at"])).total_seconds()
        found["ingest → publish queued"] = (_parse(publish["queued_at"]) - _parse(ingest["queued_at"])).total_seconds()
        return found


def portal_tells(af) -> None:
    """Restart the local portal with this Airflow's URL and the portal's account in its environment,
    as a deployment would set them: each accepted submission then raises the drop zone's event."""
    from ntm.airflow_local import PORTAL_USER
    from ntm.local_portal import local_portal

    os.environ.update(
        NTM_AIRFLOW_URL=af.url, NTM_AIRFLOW_USERNAME=PORTAL_USER, NTM_AIRFLOW_PASSWORD=af.passwords[PORTAL_USER]
    )
    manage = local_portal()
    manage.down()
    manage.up()


def portal_submitter(bench: Bench):
    """A member (editor) of the department submits the file on the portal (`ntm_submit`); the time
    starts when the portal's answer, its verdict, is back."""
    import requests

    from ntm_core.departments import organization
    from publish.ckan import ensure_organization

    ensure_organization(bench.ckan, DEPARTMENT, organization(DEPARTMENT))
    name = f"b{uuid.uuid4().hex[:8]}"
    user = bench.ckan.action.user_create(name=name, email=f"{name}@localhost", password=uuid.uuid4().hex)
    bench.ckan.action.member_create(id=DEPARTMENT, object=user["id"], object_type="user", capacity="editor")
    token = bench.ckan.action.api_token_create(user=name, name="submit")["token"]

    def submit(file_name: str, content: bytes) -> tuple[float, float]:
        sent = time.time()
        answer = requests.post(
            f"{bench.ckan.address}/api/3/action/ntm_submit",
            headers={"Authorization": token},
            data={"department": DEPARTMENT, "dataset": DATASET},
            files={"upload": (file_name, content)},
            timeout=300,
        )
        answer.raise_for_status()
        result = answer.json()["result"]
        assert result["verdict"] == "lands" and result["airflow_notified"], result
        return sent, time.time()

    return submit


def summary(rows: list[dict]) -> dict:
    totals = [r["total"] for r in rows]
    return {"median": statistics.median(totals), "worst": max(totals), "best": min(totals)}


def table(title: str, rows: list[dict]) -> list[str]:
    keys = ["total", "wait for trigger", "departments", "department.ingest", "transform", "validate", "publish"]
    keys += ["ingest run", "publish run"]
    if all("ingest runs" in r for r in rows):
        keys.append("ingest runs")  # ntm_ingest runs queued for the drop: 1 when none was empty

    def shown(value: float, key: str) -> str:
        return f"{value:.0f}" if key == "ingest runs" else f"{value:.1f}"

    lines = [f"### {title}", "", "| drop | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | " + " | ".join(shown(r.get(k, 0), k) for k in keys) + " |")
    med = {k: statistics.median([r.get(k, 0) for r in rows]) for k in keys}
    lines.append("| median | " + " | ".join(shown(med[k], k) for k in keys) + " |")
    worst = {k: max(r.get(k, 0) for r in rows) for k in keys}
    lines.append("| worst | " + " | ".join(shown(worst[k], k) for k in keys) + " |")
    return lines


def poll_baseline(rows: list[dict]) -> list[str]:
    """The poll alone: its wait (half the interval on average, the whole at worst) plus what the
    measured runs took after the trigger (total minus the watcher's wait)."""
    after = [r["total"] - r["wait for trigger"] for r in rows]
    lines = ["| schedule | expected wait for the run | file → DataStore, median | worst |", "|---|---|---|---|"]
    for name, seconds in POLLS.items():
        lines.append(
            f"| {name} | {seconds / 2:.0f} s (0–{seconds} s) | {seconds / 2 + statistics.median(after):.0f} s "
            f"| {seconds + max(after):.0f} s |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local")
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--submissions", type=int, default=0, help="also time submissions on the portal")
    parser.add_argument("--port", type=int, default=None, help="the Airflow API server's port (default: a free one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS_events.md"))
    parser.add_argument("--raw", default=str(REPO / "benchmarks" / "results_events.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    prefix = f"b{uuid.uuid4().hex[:6]}-"
    tree = tree_state()
    celery = CeleryServices(work) if args.executor == "celery" else None
    results: dict[str, list[dict]] = {}
    try:
        bench = Bench(work, prefix, args.port, celery)
        try:
            if args.submissions:
                portal_tells(bench.af)
            bench.start()
            results["file written into the drop zone"] = rows = []
            for i in range(1, args.drops + 1):
                rows.append(bench.drop(i))
                print(f"drop {i}: {rows[-1]['total']:.1f} s {rows[-1]}", flush=True)
            if args.submissions:
                submit = portal_submitter(bench)
                results["submission accepted by the portal"] = rows = []
                for i in range(args.drops + 1, args.drops + args.submissions + 1):
                    rows.append(bench.drop(i, submit))
                    print(f"submission {i}: {rows[-1]['total']:.1f} s {rows[-1]}", flush=True)
        finally:
            bench.af.stop()
            for name in bench.ckan.action.package_list():
                if name.startswith(prefix):
                    bench.ckan.action.dataset_purge(id=name)
    finally:
        if celery:
            celery.close()
        shutil.rmtree(work, ignore_errors=True)
        if any(results.values()):  # what was measured is kept, even when a later drop failed
            raw = Path(args.raw)
            kept = json.loads(raw.read_text(encoding="utf-8")) if raw.exists() else {}
            kept[args.executor] = {"tree": tree, "results": {k: v for k, v in results.items() if v}}
            raw.write_text(json.dumps(kept, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            write_results(Path(args.out), kept)


def write_results(out: Path, kept: dict) -> None:
    lines = [
        "# From a file to the portal through Airflow's event-driven runs (#31)",
        "",
        "`uv run python benchmarks/bench_event_latency.py --executor local|celery` on this machine (2 cores,",
        "shared with other work): Airflow's scheduler, triggerer (the drop zone's watcher), DAG processor and",
        "API server, parallelism 2, the one-slot `ntm_duckdb` pool; LocalExecutor with the metadata in SQLite,",
        "or the Celery setup of [docs/celery.md](../docs/celery.md) (two workers, `--concurrency 1`, a Redis",
        "broker, the metadata and Celery's results in PostgreSQL); the local portal. Each drop is a new file",
        "of one department whose rows change one published table; the time runs from the file written (or the",
        "submission's answer received) until `datastore_search` returns the changed value. Stage times",
        "(seconds) from Airflow's task instances; `wait for trigger` is from the file written to its",
        "`ntm_ingest` run queued (the watcher waits until the file is stable, 2 s, and looks every second);",
        "`ingest run`/`publish run` are queued to end, task start-up included. Raw rows:",
        "`benchmarks/results_events.json`.",
        "",
        "| executor | drops | median | worst | best | goal (median ≤ 30 s, worst ≤ 60 s) | tree measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for executor, run in kept.items():
        tree = run["tree"]
        state = f"{tree['commit']}" + (
            f" + {tree['uncommitted_files']} uncommitted files ({tree['uncommitted_sha256']})"
            if tree["uncommitted_files"]
            else ""
        )
        for title, rows in run["results"].items():
            s = summary(rows)
            met = "met" if s["median"] <= GOAL_MEDIAN and s["worst"] <= GOAL_WORST else "missed"
            lines.append(
                f"| {EXECUTORS[executor]} | {len(rows)} {title.split()[0]}s | {s['median']:.1f} s | {s['worst']:.1f} s "
                f"| {s['best']:.1f} s | {met} | {state}, {tree['at']} |"
            )
    lines.append("")
    for executor, run in kept.items():
        for title, rows in run["results"].items():
            lines += table(f"{EXECUTORS[executor]}: {title}", rows) + [""]
    base = "local" if "local" in kept else next(iter(kept))
    first = next(iter(kept[base]["results"].values()))
    lines += [
        "### The poll alone (computed, not run)",
        "",
        "Without the watcher a file waits for the poll's next tick, then takes what the runs above took after",
        f"their trigger (their total minus the watcher's wait; the {EXECUTORS[base]}'s dropped files):",
        "",
        *poll_baseline(first),
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
