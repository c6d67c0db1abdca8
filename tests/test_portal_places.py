"""How is my province doing (#29): the places directory lists today's 34 provinces with a figure
each, a province's page lists its communes with their scorecards and its program targets, the data
grid marks a province whose department sent no file as missing, and the map offers exactly the
indicators the marts' dbt YAML declares (`meta.indicator`), read from the published data dictionary."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import urllib.request
import uuid
from html import unescape
from pathlib import Path

import pytest
from helpers import REPO, chromium, declared_indicators

from publish.run import publish_marts

pytestmark = pytest.mark.portal
SCREENSHOTS = REPO / "build" / "screenshots"
MARTS = [
    "dim_admin_unit",
    "dim_admin_unit_crosswalk",
    "dim_criterion",
    "fact_commune_scorecard",
    "fact_dataset_freshness",
    "fact_digital_infrastructure",
    "fact_online_public_services",
    "kpi_program_targets",
]


def _publish(data_dir: Path, marts: list[str], prefix: str) -> dict[str, str]:
    os.environ["NTM_DATASET_PREFIX"] = prefix
    try:
        published = publish_marts({m: data_dir / "marts" / f"{m}.parquet" for m in marts}, {}, data_dir).datasets
    finally:
        os.environ.pop("NTM_DATASET_PREFIX", None)
    return {p.mart: p.name for p in published}


def _purge(ckan, prefix: str) -> None:
    for name in ckan.action.package_list():
        if name.startswith(prefix):
            ckan.action.dataset_purge(id=name)


@pytest.fixture(scope="module")
def places(ckan, sample_build):
    _, data_dir = sample_build
    prefix = "t" + uuid.uuid4().hex[:6] + "-places-"
    yield _publish(data_dir, MARTS, prefix) | {"prefix": prefix}
    _purge(ckan, prefix)


def page(ckan, path: str) -> str:
    with urllib.request.urlopen(ckan.address + urllib.parse.quote(path, safe="/:?=&")) as response:
        return response.read().decode("utf-8")


def mart(data_dir: Path, query: str) -> list[tuple]:
    import duckdb

    return duckdb.sql(query.replace("{marts}", str(data_dir / "marts"))).fetchall()


def map_indicators(ckan, path: str = "/map") -> dict[str, dict]:
    html = page(ckan, path)
    data = re.search(r'<script type="application/json" id="ntm-map-data">(.*?)</script>', html, re.S).group(1)
    return {i["id"]: i for i in json.loads(data)["indicators"]}


def test_places_lists_todays_34_provinces_each_with_its_figure_and_page(ckan, places, sample_build):
    _, data_dir = sample_build
    provinces = dict(
        mart(
            data_dir,
            "select unit_key, unit_name from '{marts}/dim_admin_unit.parquet' "
            "where level = 'province' and list_version = '2025'",
        )
    )
    assert len(provinces) == 34
    for path in ("/places", "/en/places"):
        html = page(ckan, path)
        rows = re.findall(
            r'<tr class="ntm-province" data-code="(\d+)">\s*<th scope="row"><a href="([^"]+)">([^<]+)<', html
        )
        assert {unescape(name) for _, _, name in rows} == set(provinces.values()), path
        assert {link.rsplit("/place/", 1)[1] for _, link, _ in rows} == set(provinces), path
        assert "<caption>" in html and 'tabindex="0"' in html
    # the headline: the share of assessed communes recognised (the indicator declared `headline`), per
    # province of today's map in its latest year, recomputed from the mart
    expected = mart(
        data_dir,
        "select current_province_code, year, round(100.0 * count(distinct unit_key) filter (where recognised_level "
        "<> 'none') / count(distinct unit_key), 1) from '{marts}/fact_commune_scorecard.parquet' s "
        "where year = (select max(year) from "
        "'{marts}/fact_commune_scorecard.parquet' l where l.current_province_code = s.current_province_code) "
        "group by 1, 2",
    )
    html = page(ckan, "/en/places")
    for code, year, value in expected:
        row = re.search(rf'data-code="{code}">.*?class="ntm-headline">([^<]+)<.*?<td>(\d+)</td>', html, re.S)
        assert row and row.group(1).strip() == f"{value:.1f}".removesuffix(".0") + " %" and row.group(2) == str(year)
    assert html.count("no data") >= 34 - len(expected)
    # searching without diacritics still finds the commune and narrows the provinces
    found = page(ckan, "/places?q=son la")
    assert "Tỉnh Sơn La" in found and len(re.findall(r'<tr class="ntm-province"', found)) == 1


def test_son_la_page_lists_its_communes_and_the_924_targets_once_named(ckan, places, sample_build):
    _, data_dir = sample_build
    [(name,)] = mart(
        data_dir, "select unit_name from '{marts}/dim_admin_unit.parquet' where unit_key = '2025:province:14'"
    )
    assert name == "Tỉnh Sơn La"
    html = page(ckan, "/place/2025:province:14")
    heading = re.search(r'<h1 class="page-heading">(.*?)</h1>', html, re.S).group(1)
    assert heading.strip() == "Tỉnh Sơn La"  # once, not "Tỉnh Sơn La, Tỉnh Sơn La"
    assert "Thuộc" not in html.split("page-heading", 1)[1].split("ntm-targets", 1)[0]  # not "part of" itself
    communes = mart(
        data_dir,
        "select unit_key from '{marts}/dim_admin_unit.parquet' where province_key = '2025:province:14' "
        "and level = 'commune' and list_version = '2025'",
    )
    shown = re.findall(r'<tr class="ntm-commune" data-key="([^"]+)">', html)
    assert sorted(shown) == sorted(k for (k,) in communes) and len(shown) > 50
    # the targets of 924 (set for the old province 14 before 2025 too), with met or not measured
    targets = mart(
        data_dir,
        "select distinct target_code from '{marts}/kpi_program_targets.parquet' "
        "where province_unit_key in ('2025:province:14', '2024:province:14')",
    )
    shown_targets = set(re.findall(r'<tr class="ntm-target" data-code="([^"]+)">', html))
    assert shown_targets == {c for (c,) in targets} and any(c.startswith("924.") for c in shown_targets)
    assert "924/QĐ-TTg" in html and "chưa đo được" in html
    # its fibre figure: the mean of its communes, as fact_digital_infrastructure's declaration says
    [(mean, year)] = mart(
        data_dir,
        "select round(avg(fixed_broadband_household_pct), 1), max(year) from "
        "'{marts}/fact_digital_infrastructure.parquet' where current_province_code = '14' and unit_level = 'commune'",
    )
    english = page(ckan, "/en/place/2025:province:14")
    assert "Households with fixed broadband (%)" in english and f"{mean:.1f}".removesuffix(".0") + " %" in english
    assert "Program targets" in english and "Communes" in english and "Chỉ tiêu chương trình" not in english


def test_a_province_page_shows_its_communes_scorecards(ckan, places, sample_build):
    """The samples hold scorecards for Đồng Tháp's and Tây Ninh's communes (none for Sơn La's)."""
    _, data_dir = sample_build
    for code in ("82", "80"):
        rows = mart(
            data_dir,
            f"select unit_name, criteria_met, criteria_total from '{{marts}}/fact_commune_scorecard.parquet' "
            f"where current_province_code = '{code}'",
        )
        html = page(ckan, f"/place/2025:province:{code}")
        shown = re.findall(
            r'<tr class="ntm-scorecard">\s*<th scope="row"><a [^>]*>([^<]+)</a></th>.*?<td>(\d+)/(\d+)</td>', html, re.S
        )
        assert sorted((unescape(n), int(m), int(t)) for n, m, t in shown) == sorted(rows), code
        assert re.search(r"Có phiếu đánh giá đã công bố: [1-9]\d* / \d+", html)


def test_the_grid_marks_a_province_without_a_file_as_missing(ckan, places, sample_build):
    _, data_dir = sample_build
    html = page(ckan, "/en/grid")
    cells = re.findall(r'<tr data-code="(\d+)">(.*?)</tr>', html, re.S)
    assert len(cells) == 34
    status = {
        (code, dataset): s
        for code, row in cells
        for dataset, s in re.findall(r'data-dataset="(\w+)" data-status="(\w+)"', row)
    }
    # Sơn La's science department sent digital infrastructure; nobody in Cà Mau sent anything
    assert status[("14", "digital_infrastructure")] == "fresh"
    assert status[("96", "digital_infrastructure")] == "missing"
    never = mart(
        data_dir,
        "select count(*) from '{marts}/fact_dataset_freshness.parquet' "
        "where never_received and department like '%-ca-mau'",
    )[0][0]
    assert never and sum(1 for (code, _), s in status.items() if code == "96" and s == "missing") == never
    assert "long overdue" in html or "missing" in html


def test_the_map_offers_exactly_the_indicators_the_yaml_declares(ckan, places):
    declared = {i: d for i, d in declared_indicators().items() if d.get("map")}
    offered = map_indicators(ckan)
    assert set(offered) == set(declared) == {"broadband", "online", "recognised"}
    for key, d in declared.items():
        assert (offered[key]["label_vi"], offered[key]["label_en"], offered[key]["unit"]) == (
            d["label_vi"],
            d["label_en"],
            d["unit"],
        )
    assert "INDICATORS =" not in (REPO / "portal/ckanext-ntm/ckanext/ntm/portal_data.py").read_text()


def test_adding_a_mapped_indicator_is_a_yaml_change(ckan, places, marts_copy):
    """A declaration added to a column's meta (here in the copy's dbt manifest, as the YAML would
    put it) is published into the data dictionary and offered by the map."""
    manifest_path = marts_copy / "dbt_target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    node = next(
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["name"] == "fact_digital_infrastructure"
    )
    node["columns"]["smartphone_household_pct"].setdefault("meta", {})["indicator"] = {
        "id": "smartphone",
        "label_vi": "Hộ có điện thoại thông minh (%)",
        "label_en": "Households with a smartphone (%)",
        "unit": "%",
        "direction": "higher",
        "aggregate": "mean",
        "map": True,
    }
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    prefix = "t" + uuid.uuid4().hex[:6] + "-indicator-"
    try:
        _publish(marts_copy, ["fact_digital_infrastructure"], prefix)
        offered = map_indicators(ckan)
        assert "smartphone" in offered and offered["smartphone"]["label_en"] == "Households with a smartphone (%)"
        import duckdb

        mean = duckdb.sql(
            "select round(avg(smartphone_household_pct), 1) "
            f"from '{marts_copy}/marts/fact_digital_infrastructure.parquet' where current_province_code = '14'"
        ).fetchone()[0]
        assert any(v.get("14") == pytest.approx(mean) for v in offered["smartphone"]["values"].values())
    finally:
        _purge(ckan, prefix)
    assert "smartphone" not in map_indicators(ckan)  # the real table again


def test_screenshots_of_the_new_pages(ckan, places):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "places_vi": "/places",
        "places_en": "/en/places",
        "province_son_la": "/place/2025:province:14",
        "province_dong_thap_en": "/en/place/2025:province:82",
        "grid_en": "/en/grid",
        "map_legend": "/map",
    }
    for name, path in shots.items():
        chromium(f"--screenshot={SCREENSHOTS / f'{name}.png'}", ckan.address + path)
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000, name
    dom = chromium("--dump-dom", ckan.address + "/map")
    assert 'class="ntm-map-legend' in dom and "chưa có số liệu" in dom
