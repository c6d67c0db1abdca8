"""The DataStore loaded like ckanext-xloader, on the real local CKAN: a new table by PostgreSQL `COPY`
into the DataStore database (typed fields, data dictionary, primary key, full text), a few changed
rows by upsert, and the API alone when the database cannot be reached."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow.parquet as pq
import pytest
from helpers import tamper

from publish.datastore import fields_for
from publish.files import neutralise, published_order
from publish.metadata import column_docs
from publish.run import publish_marts

pytestmark = pytest.mark.portal
MART = "fact_digital_infrastructure"


def table_rows(ckan, resource_id: str) -> dict[str, dict]:
    found = ckan.action.datastore_search(resource_id=resource_id, limit=1000)["records"]
    return {r["unit_key"]: r for r in found}


def same(portal_value, mart_value) -> bool:
    if isinstance(mart_value, float):
        return portal_value is not None and math.isclose(float(portal_value), mart_value)
    if isinstance(mart_value, dt.date):
        return str(portal_value)[:10] == mart_value.isoformat()
    if mart_value in (None, ""):
        return portal_value in (None, "")
    return portal_value == neutralise(mart_value)


def publish(data_dir, parquet):
    [published] = publish_marts({MART: parquet}, {}, data_dir).datasets
    return published


def test_a_new_table_is_copied_in_and_a_small_change_is_upserted(ckan, prefix, marts_copy, caplog):
    parquet = marts_copy / "marts" / f"{MART}.parquet"
    mart_rows = {r["unit_key"]: r for r in pq.read_table(parquet).to_pylist()}
    published = publish(marts_copy, parquet)
    assert published.table_load == "copy"
    resource_id = published.resources["csv"]

    # Every row, every value, through datastore_search.
    info = ckan.action.datastore_info(id=resource_id)
    assert ckan.action.datastore_search(resource_id=resource_id, limit=0)["total"] == len(mart_rows)
    rows = table_rows(ckan, resource_id)
    assert rows.keys() == mart_rows.keys()
    for key, row in mart_rows.items():
        assert all(same(rows[key][c], v) for c, v in row.items()), key
    # Typed fields in the published order, with the data dictionary of both languages.
    columns, meta = column_docs(MART, marts_copy)
    wanted = fields_for(parquet, columns, meta["primary_key"])
    got = [f for f in info["fields"] if f["id"] != "_id"]
    assert [(f["id"], f["type"]) for f in got] == [(f["id"], f["type"]) for f in wanted]
    assert [f["id"] for f in got] == published_order(pq.read_schema(parquet).names)
    by_id = {f["id"]: f["info"] for f in got}
    assert (
        by_id["fixed_broadband_household_pct"]["label_translated"]["en"]
        == (columns["fixed_broadband_household_pct"]["label_en"])
    )
    assert {"float8", "int4", "text"} <= {f["type"] for f in got}
    # The full-text column was filled after the COPY: a name finds its rows.
    found = ckan.action.datastore_search(resource_id=resource_id, q="Chiềng Xôm")["records"]
    assert found and all("Chiềng Xôm" in r["unit_name"] for r in found)
    # The primary key holds: an upsert of one row changes that row only.
    key = {k: rows[next(iter(rows))][k] for k in meta["primary_key"]}
    ckan.action.datastore_upsert(
        resource_id=resource_id, force=True, method="upsert", records=[{**key, "fixed_broadband_household_pct": 1.5}]
    )
    after = table_rows(ckan, resource_id)
    assert len(after) == len(rows)
    assert [k for k in after if after[k] != rows[k]] == [key["unit_key"]]
    assert after[key["unit_key"]]["fixed_broadband_household_pct"] == 1.5

    # The mart changes by one value and one row: two rows of work, not a reload.
    changed, dropped = sorted(mart_rows)[:2]
    tamper(
        marts_copy,
        MART,
        f"select * replace (case when unit_key = '{changed}' then 99.5 else fixed_broadband_household_pct end "
        f"as fixed_broadband_household_pct) from m where unit_key <> '{dropped}'",
    )
    again = publish(marts_copy, parquet)
    assert again.table_load == "upsert" and again.resources["csv"] == resource_id
    # The update left the dataset public and its table preview in place, made once.
    assert ckan.action.package_show(id=again.name)["private"] is False
    assert [v["view_type"] for v in ckan.action.resource_view_list(id=resource_id)] == ["datatables_view"]
    final = table_rows(ckan, resource_id)
    assert dropped not in final and len(final) == len(mart_rows) - 1
    assert final[changed]["fixed_broadband_household_pct"] == 99.5
    # The row changed by hand on the portal was not in the mart's change: it keeps the hand edit,
    # which the next full reload (new columns, many changes) would correct.
    assert publish(marts_copy, parquet).status == "unchanged"


def test_without_the_datastore_database_the_table_loads_through_the_api(ckan, prefix, marts_copy, monkeypatch, capsys):
    # A real fault: nothing listens on port 9 of loopback.
    monkeypatch.setenv("NTM_DATASTORE_DB_URL", "postgresql://nobody:secret@127.0.0.1:9/datastore")
    parquet = marts_copy / "marts" / f"{MART}.parquet"
    published = publish(marts_copy, parquet)
    assert published.table_load == "api"
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "DataStore database is not reachable" in log and "through the API" in log
    assert "secret" not in log  # the URL's password is never logged
    rows = table_rows(ckan, published.resources["csv"])
    mart_rows = {r["unit_key"]: r for r in pq.read_table(parquet).to_pylist()}
    assert rows.keys() == mart_rows.keys()
    for key, row in mart_rows.items():
        assert all(same(rows[key][c], v) for c, v in row.items()), key
