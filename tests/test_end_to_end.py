"""The walking skeleton end to end: department files → bronze → dbt → Great Expectations → CKAN."""

import json
import urllib.request

import duckdb
import pytest
from helpers import drop, sample

from ntm import pipeline

pytestmark = pytest.mark.portal

SON_LA = ("so-khcn-son-la", "digital_infrastructure")
DONG_THAP = ("so-khcn-dong-thap", "digital_infrastructure")


def _digital(result):
    return next(d for d in result.publish.datasets if d.mart == "fact_digital_infrastructure")


def _datastore_rows(ckan, dataset_name):
    package = ckan.action.package_show(id=dataset_name)
    csv_res = next(r for r in package["resources"] if r.get("ntm_kind") == "csv")
    found = ckan.action.datastore_search(resource_id=csv_res["id"], limit=1000, sort="unit_key")
    return package, found["records"]


def test_samples_reach_the_portal_with_their_values(ckan, dropzone, data_dir, prefix):
    drop(dropzone, *SON_LA, sample(*SON_LA))
    drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    result = pipeline.run_all(dropzone, data_dir)
    assert result.transform.success, result.transform.failures
    assert result.validation.blocked == []
    assert "fact_digital_infrastructure" in result.validation.publishable
    published = _digital(result)
    assert published.status == "created" and published.name == prefix + "ntm-ha-tang-so-cap-xa"

    package, records = _datastore_rows(ckan, published.name)
    mart = duckdb.sql(f"select * from '{data_dir}/marts/fact_digital_infrastructure.parquet' order by unit_key").df()
    assert len(records) == len(mart) == 23  # 11 Sơn La communes + 12 Đồng Tháp communes
    by_code = {r["unit_code"]: r for r in records}
    assert by_code["03664"]["fixed_broadband_household_pct"] == 46.32
    assert by_code["03664"]["unit_name"] == "Xã Chiềng Xôm"  # official name; the file said "Chiềng Xôm"
    assert by_code["03664"]["unit_key"] == "2024:commune:03664"
    assert by_code["03664"]["current_unit_key"] == "2025:commune:03664"  # now Phường Chiềng An
    assert by_code["03661"]["fixed_broadband_household_pct"] == 41.15  # row without a code, resolved by name
    assert by_code["30100"]["smartphone_household_pct"] == 90.76
    assert by_code["03676"]["fixed_broadband_household_pct"] is None
    assert by_code["30109"]["it_loudspeaker_stations"] is None
    assert [r["unit_key"] for r in records] == list(mart["unit_key"])

    assert package["private"] is False and package["license_id"] == "cc-by"
    assert package["organization"]["name"] == "chuong-trinh-ntm"  # two source departments
    assert package["source_departments"] == "so-khcn-dong-thap, so-khcn-son-la"
    assert package["temporal_coverage"] == "2023–2023"
    assert package["frequency"].endswith("/frequency/ANNUAL")  # fields of the declared schema
    assert {r["ntm_kind"] for r in package["resources"]} == {"csv", "xlsx", "parquet", "validation", "datapackage"}
    # A Frictionless data package describes the files with their schema, for harvesters and tools.
    resources = {r["ntm_kind"]: r for r in package["resources"]}
    with urllib.request.urlopen(resources["datapackage"]["url"]) as resp:
        datapackage = json.loads(resp.read())
    assert datapackage["name"] == published.name and datapackage["licenses"][0]["name"] == "CC-BY-4.0"
    csv_desc, parquet_desc, *_ = datapackage["resources"]  # then the datasets its foreign keys point to
    assert csv_desc["path"] == resources["csv"]["url"] and parquet_desc["path"] == resources["parquet"]["url"]
    fields = {f["name"]: f for f in csv_desc["schema"]["fields"]}
    assert fields["year"]["type"] == "integer" and fields["fixed_broadband_household_pct"]["type"] == "number"
    assert fields["unit_code"]["title"] == "Mã ĐVHC" and csv_desc["schema"]["primaryKey"] == ["unit_key", "year"]
    fields = {
        f["id"]: f
        for f in ckan.action.datastore_info(id=next(r["id"] for r in package["resources"] if r["ntm_kind"] == "csv"))[
            "fields"
        ]
    }
    assert fields["unit_code"]["type"] == "text" and fields["year"]["type"] == "int4"
    assert fields["unit_code"]["info"]["label"] == "Mã ĐVHC"

    # The CSV download opens in Excel: UTF-8 with BOM.
    csv_url = next(r["url"] for r in package["resources"] if r["ntm_kind"] == "csv")
    with urllib.request.urlopen(csv_url) as resp:
        body = resp.read()
    assert body.startswith(b"\xef\xbb\xbfunit_name,") and "Chiềng Xôm".encode() in body  # human columns first
    assert body.splitlines()[0].decode("utf-8-sig").split(",")[-1] == "department"  # keys and lineage last

    # The public pages list it.
    for path in ("/dataset", f"/dataset/{published.name}"):
        with urllib.request.urlopen(f"{ckan.address}{path}") as resp:
            assert resp.status == 200 and published.name in resp.read().decode()

    # Publishing again changes nothing.
    again = pipeline.run_all(dropzone, data_dir)
    assert {d.status for d in again.publish.datasets} == {"unchanged"}
    assert ckan.action.package_show(id=published.name)["metadata_modified"] == package["metadata_modified"]


def test_changed_row_is_upserted_and_nothing_duplicates(ckan, dropzone, data_dir, prefix):
    original = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    first = pipeline.run_all(dropzone, data_dir)
    name = _digital(first).name
    _, before = _datastore_rows(ckan, name)
    corrected = original.read_bytes().replace("Xã Mỹ Thọ;2023;83,66".encode(), "Xã Mỹ Thọ;2023;84,10".encode())
    drop(dropzone, *DONG_THAP, name="HaTangSo_HuyenCaoLanh_2023_v2.csv", content=corrected)
    second = pipeline.run_all(dropzone, data_dir)
    statuses = {d.mart: d.status for d in second.publish.datasets}
    assert statuses.pop("fact_digital_infrastructure") == "updated"
    assert statuses.pop("fact_dataset_freshness") == "updated"  # the department's last file is newer
    assert set(statuses.values()) == {"unchanged"}
    _, after = _datastore_rows(ckan, name)
    assert len(after) == len(before) == 12
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert len(changed) == 1
    b, a = changed[0]
    assert a["unit_code"] == "30100" and a["fixed_broadband_household_pct"] == 84.10
    assert b["fixed_broadband_household_pct"] == 83.66


def test_file_breaking_a_critical_expectation_does_not_reach_the_portal(ckan, dropzone, data_dir, prefix, capsys):
    # Ingest accepts a well-formed year; the published table must not claim figures from the future.
    bad = (
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
        "29869;Phường Cao Lãnh;2031;91,25\n28261;Phường Mỹ Tho;2031;78,40\n"
    )
    drop(dropzone, *DONG_THAP, name="HaTangSo_2031.csv", content=bad.encode())
    from ntm.cli import main

    code = main(["--data-dir", str(data_dir), "run", "--dropzone", str(dropzone), "--timings"])
    out = capsys.readouterr().out
    assert code == 1
    assert "BLOCKED  fact_digital_infrastructure" in out
    assert "expect_column_values_to_be_between column=year" in out
    # --timings: start-up and each stage that ran, in order, then their total.
    timings = [line.split() for line in out.split("Timings:\n", 1)[1].splitlines() if line.startswith("  ")]
    assert [t[0] for t in timings] == ["start-up", "ingest", "transform", "validate", "publish", "total"]
    seconds = [float(t[1]) for t in timings]
    assert all(s >= 0 for s in seconds) and seconds[2] > 0
    assert abs(sum(seconds[:-1]) - seconds[-1]) < 0.05
    import ckanapi

    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id=prefix + "ntm-ha-tang-so-cap-xa")
