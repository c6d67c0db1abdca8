"""The drop zone's watcher (ntm/watch.py, ntm/dropzone_trigger.py): what is new from one listing,
the event trigger, and one ingest landing at a time."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import duckdb
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
    # The same bytes touched again: looked at once more (the ledger finds them unchanged), then not.
    os.utime(son_la, (time.time() - 30, time.time() - 30))
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP, SON_LA]
    assert _ingest(SON_LA, dropzone, data_dir) is None  # skipped: nothing landed
    assert watch.departments_with_new_files(dropzone, data_dir) == [DONG_THAP]


def test_a_file_still_being_written_stays_new_until_ingest_reads_it(dropzone, data_dir):
    fresh = dropzone / SON_LA / DATASET / "moi.csv"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(sample(SON_LA, DATASET).read_bytes())
    assert watch.new_files(dropzone, data_dir, settle_seconds=2.0) == {}  # not settled yet
    assert _ingest(SON_LA, dropzone, data_dir) is None  # ingest leaves it too (not_ready)
    assert watch.departments_with_new_files(dropzone, data_dir) == [SON_LA]


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
