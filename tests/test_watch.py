"""The drop zone's watcher (ntm/watch.py, ntm/dropzone_trigger.py): what is new from one listing,
the event trigger, and one ingest landing at a time."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import duckdb
import pyarrow.parquet as pq
from helpers import drop, sample

from ntm import tasks, watch

SON_LA, DONG_THAP = "so-khcn-son-la", "so-khcn-dong-thap"
DATASET = "digital_infrastructure"


def _ingest(department, dropzone, data_dir) -> dict | None:
    from airflow.sdk.exceptions import AirflowSkipException

    try:
        return tasks.ingest_department(department, str(dropzone), str(data_dir))
    except AirflowSkipException:
        return None


def test_one_listing_names_the_departments_with_new_files(dropzone, data_dir):
    son_la = drop(dropzone, SON_LA, DATASET, sample(SON_LA, DATASET))
    drop(dropzone, DONG_THAP, DATASET, sample(DONG_THAP, DATASET))
    (dropzone / "_reports").mkdir()  # not a department
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP, SON_LA]

    assert _ingest(SON_LA, dropzone, data_dir)["files"][0]["status"] == "landed"
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP]
    # The same bytes touched again, or written again under the same name: the ledger holds them, so no
    # ingest would land or note anything (#31: no run that finds nothing).
    os.utime(son_la, (time.time() - 30, time.time() - 30))
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP]
    # A copy under another name is read: ingest notes it once as a duplicate, for the department to see.
    drop(dropzone, SON_LA, DATASET, sample(SON_LA, DATASET), name="ban-sao.csv")
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP, SON_LA]
    assert _ingest(SON_LA, dropzone, data_dir) is None  # nothing landed: the task is skipped
    ledger = pq.read_table(data_dir / "ledger.parquet", columns=["file_name", "status"]).to_pylist()
    assert {"file_name": "ban-sao.csv", "status": "duplicate"} in ledger
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP]
    # Other bytes under the old name are new again.
    son_la.write_bytes(son_la.read_bytes() + b"\n")
    os.utime(son_la, (time.time() - 30, time.time() - 30))
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP, SON_LA]


def test_a_file_still_being_written_stays_new_until_ingest_reads_it(dropzone, data_dir):
    fresh = dropzone / SON_LA / DATASET / "moi.csv"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(sample(SON_LA, DATASET).read_bytes())
    assert watch.new_files(dropzone, data_dir, settle_seconds=2.0) == {}  # not settled yet
    assert _ingest(SON_LA, dropzone, data_dir) is None  # ingest leaves it too (not_ready)
    assert watch.departments_with_new_files(dropzone, data_dir) == [SON_LA]


def test_a_run_claims_what_it_reads_and_held_bytes_are_remembered_unread(dropzone, data_dir, monkeypatch):
    from ntm.airflow_local import free_port

    monkeypatch.setenv("NTM_CKAN_URL", f"http://127.0.0.1:{free_port()}")  # no portal: none fetched
    monkeypatch.setenv("NTM_CKAN_TOKEN", "unused")
    held = drop(dropzone, SON_LA, DATASET, sample(SON_LA, DATASET))
    _ingest(SON_LA, dropzone, data_dir)
    os.utime(held, (time.time() - 30, time.time() - 30))  # touched: the same name and bytes, held
    new = drop(dropzone, DONG_THAP, DATASET, sample(DONG_THAP, DATASET))
    assert set(watch.to_announce(dropzone, data_dir, 0.0)) == {(DONG_THAP, DATASET, new.name)}

    # The run's `departments` task: Đồng Tháp's file claimed, Sơn La's touched file looked at unread.
    assert tasks.departments_with_new_files(str(dropzone), str(data_dir), []) == [DONG_THAP]
    assert watch.to_announce(dropzone, data_dir, 0.0) == {}  # claimed: not announced while it waits
    assert (SON_LA, DATASET, held.name) in watch.looked_at(data_dir, [SON_LA])
    assert set(watch.claimed(data_dir, [DONG_THAP])) == {(DONG_THAP, DATASET, new.name)}

    # While a run fetches and claims, the watcher does not list (it would see a fetched file unclaimed).
    with watch.fetching(data_dir):
        assert watch.to_announce(dropzone, data_dir, 0.0) is None
    # The ingest that reads the file ends the claim; the file is looked at.
    assert _ingest(DONG_THAP, dropzone, data_dir)["files"][0]["status"] == "landed"
    assert watch.claimed(data_dir, [DONG_THAP]) == {} and watch.to_announce(dropzone, data_dir, 0.0) == {}
    # A claimed file written again (other size and time) is announced: the claim was for the old one.
    drop(dropzone, DONG_THAP, DATASET, content=new.read_bytes() + b"\n", name="khac.csv")
    watch.claim(data_dir, {(DONG_THAP, DATASET, "khac.csv"): (1, 1, 1)})
    assert set(watch.to_announce(dropzone, data_dir, 0.0)) == {(DONG_THAP, DATASET, "khac.csv")}


def test_a_data_dir_from_before_the_watcher_is_read_from_the_ledger(dropzone, data_dir):
    drop(dropzone, SON_LA, DATASET, sample(SON_LA, DATASET))
    _ingest(SON_LA, dropzone, data_dir)
    for seen in (data_dir / watch.SEEN_FOLDER).iterdir():
        seen.unlink()
    assert watch.departments_with_new_files(dropzone, data_dir) == []


def _first_event(trigger, timeout: float):
    async def first():
        agen = trigger.run()
        try:
            return await asyncio.wait_for(anext(agen), timeout)
        finally:
            await agen.aclose()

    return asyncio.run(first())


def test_the_trigger_announces_a_stable_file_naming_its_department(dropzone, data_dir):
    drop(dropzone, DONG_THAP, DATASET, sample(DONG_THAP, DATASET))
    _ingest(DONG_THAP, dropzone, data_dir)  # looked at: never announced
    from ntm.dropzone_trigger import DropZoneTrigger  # imports (so configures) Airflow: only here

    trigger = DropZoneTrigger(poll_seconds=0.1, dropzone=str(dropzone), data_dir=str(data_dir))
    classpath, kwargs = trigger.serialize()
    assert classpath == "ntm.dropzone_trigger.DropZoneTrigger" and DropZoneTrigger(**kwargs).serialize() == (
        classpath,
        kwargs,
    )

    def write_later():
        time.sleep(0.3)
        target = dropzone / SON_LA / DATASET / "moi.csv"
        target.parent.mkdir(parents=True)
        target.write_bytes(sample(SON_LA, DATASET).read_bytes())

    started = time.monotonic()
    threading.Thread(target=write_later).start()
    event = _first_event(trigger, timeout=20)
    waited = time.monotonic() - started
    assert event.payload == {"departments": [SON_LA], "files": [f"{SON_LA}/{DATASET}/moi.csv"]}
    assert waited >= 2.0  # ingest's SETTLE_SECONDS: a file is announced only once stable


def test_two_overlapping_ingests_never_land_a_file_twice(dropzone, data_dir):
    source = sample(SON_LA, DATASET)
    for i in range(3):  # the first lands, the two copies are noted as duplicates: once each
        drop(dropzone, SON_LA, DATASET, source, name=f"tep{i}{source.suffix}")
    results: list = []
    runs = [threading.Thread(target=lambda: results.append(_ingest(SON_LA, dropzone, data_dir))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    landed = [f for r in results if r for f in r["files"] if f["status"] in ("landed", "partly_landed", "duplicate")]
    assert len(landed) == 3 and results.count(None) == 1  # one run read them all, the other found nothing
    rows = duckdb.sql(
        f"select file_name, count(*) from '{data_dir}/ledger.parquet' group by all order by all"
    ).fetchall()
    assert [n for _, n in rows] == [1, 1, 1]


def test_the_landing_lock_makes_a_second_ingest_wait(data_dir):
    order = []
    with watch.landing_lock(data_dir):
        other = threading.Thread(target=lambda: (watch.landing_lock(data_dir).__enter__(), order.append("second")))
        other.start()
        time.sleep(0.3)
        order.append("first")
    other.join(5)
    assert order == ["first", "second"]


def test_the_triggering_events_name_the_departments_whose_sources_are_fetched():
    watcher = {"from_trigger": True, "payload": {"departments": [SON_LA], "files": [f"{SON_LA}/{DATASET}/a.csv"]}}
    portal = {"departments": [DONG_THAP], "dataset": DATASET, "submission": "r1", "from_rest_api": True}
    assert watch.named_departments([watcher, portal]) == [DONG_THAP, SON_LA]
    # No event (the hourly poll), or one naming nobody (an event created by hand): everyone's.
    assert watch.named_departments([]) is None
    assert watch.named_departments([portal, {"from_rest_api": True}]) is None
    # A name that is no department folder's is never used.
    assert watch.named_departments([{"departments": ["../etc", 3, SON_LA]}]) == [SON_LA]
    assert watch.named_departments([{"departments": ["../etc"]}]) is None


def test_the_extras_are_read_from_airflows_triggering_asset_events():
    class Event:  # the shape of Airflow's AssetEventDagRunReference: only `extra` is read
        def __init__(self, extra):
            self.extra = extra

    events = {"ntm://dropzone/files": [Event({"departments": [SON_LA]}), Event(None)]}
    assert tasks.triggering_extras(events) == [{"departments": [SON_LA]}, {}]
    assert tasks.triggering_extras(None) == [] and tasks.triggering_extras({}) == []


def test_an_event_naming_a_department_fetches_only_its_sources(dropzone, data_dir, tmp_path, monkeypatch):
    # Two departments publish at a URL (here files on this machine, read through fsspec as any URL).
    published = {}
    for department in (SON_LA, DONG_THAP):
        published[department] = tmp_path / "published" / department / sample(department, DATASET).name
        published[department].parent.mkdir(parents=True)
        published[department].write_bytes(sample(department, DATASET).read_bytes())
    registry = tmp_path / "departments.yaml"
    registry.write_text(
        "".join(f"{d}: {{sources: [{{url: 'file://{f}', dataset: {DATASET}}}]}}\n" for d, f in published.items()),
        encoding="utf-8",
    )
    monkeypatch.setenv("NTM_DEPARTMENTS", str(registry))
    # No portal answers there: the submissions fetch is logged and skipped.
    from ntm.airflow_local import free_port

    monkeypatch.setenv("NTM_CKAN_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NTM_CKAN_TOKEN", "unused")
    portal_event = {"departments": [SON_LA], "from_rest_api": True}
    assert tasks.departments_with_new_files(str(dropzone), str(data_dir), [portal_event]) == [SON_LA]
    assert not (dropzone / DONG_THAP).exists()  # not named: its URL is left for its own event or the poll
    # The hourly poll (no event) fetches every department's.
    assert tasks.departments_with_new_files(str(dropzone), str(data_dir), []) == [DONG_THAP, SON_LA]


def test_the_portals_event_client_fails_saying_which_step_never_a_secret():
    import importlib.util

    from helpers import REPO

    from ntm.airflow_local import free_port

    path = REPO / "portal" / "ckanext-ntm" / "ckanext" / "ntm" / "airflow_events.py"
    spec = importlib.util.spec_from_file_location("ntm_portal_airflow_events", path)
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)  # the standard library only: it runs in the portal's environment
    assert client.credentials({}) is None  # nothing set: the portal tells nobody, the poll fetches
    assert client.credentials({client.ENV_TOKEN: "t"}) == {"token": "t"}
    creds = client.credentials({client.ENV_USERNAME: "ntm_portal", client.ENV_PASSWORD: "s3cret-pw"})
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        client.notify(nobody, watch.DROPZONE_URI, client.submission_extra(SON_LA, DATASET, "r1"), creds)
    except client.NotifyError as err:
        assert str(err) == "token: ConnectionRefusedError" and err.__suppress_context__  # no request in it
    else:
        raise AssertionError("no Airflow answers there")


def test_the_portals_airflow_settings_are_the_declared_ones():
    """The portal's Airflow client runs in CKAN's own environment and reads the environment itself:
    every name it reads is a setting of ntm_core.settings (documented in the README's table)."""
    import re

    from helpers import REPO

    from ntm_core.settings import SETTINGS

    client = (REPO / "portal/ckanext-ntm/ckanext/ntm/airflow_events.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"(NTM_AIRFLOW_[A-Z_]+)"', client))
    assert read == {"NTM_AIRFLOW_USERNAME", "NTM_AIRFLOW_PASSWORD", "NTM_AIRFLOW_TOKEN"}
    assert read | {"NTM_AIRFLOW_URL"} <= set(SETTINGS)
