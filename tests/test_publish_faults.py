"""Publishing survives being killed and a portal outage (real CKAN, real processes)."""

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from ntm import pipeline
from publish.client import PortalUnavailable

pytestmark = pytest.mark.portal

MARTS = ["dim_admin_unit", "dim_criterion", "fact_cooperatives"]
UNITS = "ntm-danh-muc-don-vi-hanh-chinh"


def _portal_state(ckan, prefix):
    """Everything the public could see or download, per dataset: resources and DataStore rows."""
    state = {}
    for name in sorted(n for n in ckan.action.package_list() if n.startswith(prefix)):
        package = ckan.action.package_show(id=name)
        kinds = sorted(r["ntm_kind"] for r in package["resources"])
        csv_id = next(r["id"] for r in package["resources"] if r["ntm_kind"] == "csv")
        rows = ckan.action.datastore_search(resource_id=csv_id, limit=0)["total"]
        state[name] = (package["private"], kinds, rows)
    return state


def test_a_publish_killed_midway_completes_on_the_next_run_without_duplicates(ckan, marts_copy, prefix):
    marts = {m: marts_copy / "marts" / f"{m}.parquet" for m in MARTS}
    assert pipeline.validate(marts_copy, "v1", marts=marts).blocked == []
    # Small DataStore batches make the load of the 14,149 units long enough to be killed inside it.
    # The API path loads in batches (the COPY path commits the whole table at once, so a kill
    # cannot leave it half-loaded): no DataStore database for this publish.
    env = {
        **os.environ,
        "NTM_DATA_DIR": str(marts_copy),
        "NTM_DATASET_PREFIX": prefix,
        "NTM_PUBLISH_CHUNK": "500",
        "NTM_DATASTORE_DB_URL": "postgresql://nobody@127.0.0.1:9/none",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ntm.cli", "publish", *[a for m in MARTS for a in ("--mart", m)]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    units_total = pq.ParquetFile(marts["dim_admin_unit"]).metadata.num_rows
    seen = None
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and seen is None:
        try:
            package = ckan.action.package_show(id=prefix + UNITS)
            csv_id = next(r["id"] for r in package["resources"] if r["ntm_kind"] == "csv")
            rows = ckan.action.datastore_search(resource_id=csv_id, limit=0)["total"]
        except Exception:  # not created yet
            time.sleep(0.05)
            continue
        if rows > 0:  # rows are going into the DataStore: kill it now
            proc.send_signal(signal.SIGKILL)
            seen = (package["private"], rows)
    proc.wait(timeout=30)
    assert seen is not None, "the publish ended before it could be killed"
    private, rows = seen
    assert private and rows < units_total, seen  # killed half-way, and the public saw nothing of it

    result = pipeline.publish(marts_copy, marts=MARTS)
    assert {d.mart for d in result.datasets} == set(MARTS)
    state = _portal_state(ckan, prefix)
    expected_rows = {m: pq.ParquetFile(p).metadata.num_rows for m, p in marts.items()}
    assert len(state) == len(MARTS)
    for d in result.datasets:
        assert state[d.name] == (False, ["csv", "datapackage", "parquet", "validation", "xlsx"], expected_rows[d.mart])
    again = pipeline.publish(marts_copy, marts=MARTS)
    assert {d.status for d in again.datasets} == {"unchanged"}
    assert _portal_state(ckan, prefix) == state


def test_a_portal_outage_fails_the_run_clearly_and_the_next_run_publishes(ckan, portal, marts_copy, prefix):
    from ntm.local_portal import local_portal

    portal_mod = local_portal()

    marts = {"fact_cooperatives": marts_copy / "marts" / "fact_cooperatives.parquet"}
    assert pipeline.validate(marts_copy, "v1", marts=marts).blocked == []
    try:
        portal_mod.down(portal)
        with pytest.raises(PortalUnavailable) as failure:
            pipeline.publish(marts_copy, marts=["fact_cooperatives"])
    finally:
        portal_mod.up(portal)  # whatever happened, the other tests get their portal back
    message = str(failure.value)
    assert "does not answer" in message and "Nothing was published" in message and "ntm publish" in message
    assert "token" not in message.lower()
    [published] = pipeline.publish(marts_copy, marts=["fact_cooperatives"]).datasets
    assert published.status == "created"
    assert _portal_state(ckan, prefix) == {
        published.name: (False, ["csv", "datapackage", "parquet", "validation", "xlsx"], 5)
    }
