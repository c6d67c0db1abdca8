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
from helpers import REPO, chromium, dataset_prefix, declared_indicators, screenshots, tamper

from publish.run import publish_marts

pytestmark = pytest.mark.portal
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
    return {i["id"]: i for i in map_json(ckan, path)["indicators"]}


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
    datasets = re.search(r'<table class="table table-sm table-bordered ntm-grid">(.*?)</table>', html, re.S).group(1)
    cells = re.findall(r'<tr data-code="(\d+)">(.*?)</tr>', datasets, re.S)
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


def _criteria_in_force(data_dir: Path) -> tuple[str, list[str]]:
    """The commune set of the standard tier in force today (the latest in force) and its criteria."""
    [(criteria_set,)] = mart(
        data_dir,
        "select criteria_set from '{marts}/dim_criterion.parquet' where set_level = 'commune' "
        "and set_tier = 'standard' and in_force_from <= current_date "
        "group by 1 order by max(in_force_from) desc limit 1",
    )
    criteria = mart(
        data_dir,
        f"select distinct criterion_no from '{{marts}}/dim_criterion.parquet' where criteria_set = '{criteria_set}' "
        "order by length(criterion_no), criterion_no",
    )
    return criteria_set, [c for (c,) in criteria]


def test_the_grid_shows_each_provinces_data_for_the_criteria_of_the_set_in_force(ckan, places, marts_copy):
    """The samples assess no commune against the 2026-2030 set: here Đồng Tháp's 2023 assessments of
    criteria 1-10 are restated as 2026 ones against the set in force (some criteria with values, some
    only "no data"); every other province stays missing."""
    criteria_set, criteria = _criteria_in_force(marts_copy)
    assert criteria_set == "NTM_XA_2026_2030" and len(criteria) == 10  # Decision 51/2025/QĐ-TTg's ten
    tamper(
        marts_copy,
        "fact_commune_assessment",
        f"select * replace ('{criteria_set}' as criteria_set, 2026 as year, "
        f"'{criteria_set}:' || criterion_no || ':' || indicator_code as criterion_key) from m "
        "where current_province_code = '82' and try_cast(criterion_no as integer) between 1 and 10 "
        "union all by name select * from m",
    )
    expected = {
        (code, no): (year, with_data, assessed)
        for code, no, year, with_data, assessed in mart(
            marts_copy,
            "with a as (select * from '{marts}/fact_commune_assessment.parquet' "
            f"where criteria_set = '{criteria_set}') "
            "select current_province_code, criterion_no, year, "
            "count(distinct unit_key) filter (where status in ('met', 'not_met')), count(distinct unit_key) "
            "from a where year = (select max(year) from a l where l.current_province_code = a.current_province_code) "
            "group by all",
        )
    }
    assert {s for (s, _, _) in expected.values()} == {2026}
    assert any(w for _, w, _ in expected.values()) and any(not w for _, w, _ in expected.values())
    with dataset_prefix(ckan, "criteria-grid"):
        assessments = marts_copy / "marts" / "fact_commune_assessment.parquet"
        publish_marts({"fact_commune_assessment": assessments}, {}, marts_copy)
        pages = {lang: page(ckan, f"{lang}/grid") for lang in ("", "/en")}
    for lang, html in pages.items():
        table = re.search(r'<table class="[^"]*ntm-criteria-grid">(.*?)</table>', html, re.S).group(1)
        assert re.findall(r'<th scope="col" data-criterion="([^"]+)">', table) == criteria, lang
        rows = re.findall(r'<tr data-code="(\d+)">(.*?)</tr>', table, re.S)
        assert len(rows) == 34, lang
        for code, row in rows:
            cells = re.findall(
                r'<td class="ntm-grid-(\w+)" data-criterion="([^"]+)" data-status="(\w+)"'
                r'(?: data-year="(\d+)" data-with-data="(\d+)" data-assessed="(\d+)")?>\s*<strong>([^<]+)</strong>',
                row,
            )
            assert [no for _, no, _, _, _, _, _ in cells] == criteria, (lang, code)
            for css, no, status, year, with_data, assessed, word in cells:
                year_, with_, assessed_ = expected.get((code, no), (None, 0, None))
                assert status == css == ("present" if with_ else "missing"), (lang, code, no)
                said = (str(year_), str(with_), str(assessed_)) if year_ else ("", "", "")
                assert (year, with_data, assessed) == said, (lang, code, no)
                # said in words, not by colour alone
                assert word == {("", "missing"): "thiếu", ("/en", "missing"): "missing"}.get((lang, status), word)
    cam_au = re.search(r'ntm-criteria-grid">.*?<tr data-code="96">(.*?)</tr>', pages["/en"], re.S).group(1)
    assert cam_au.count("<strong>missing</strong>") == len(criteria) + 1  # and its coordination office sent no file


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


def map_json(ckan, path: str = "/map") -> dict:
    html = page(ckan, path)
    data = re.search(r'<script type="application/json" id="ntm-map-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(data)


def commune_values(data_dir: Path, declared: dict) -> dict[str, dict[str, float]]:
    """year -> commune of today's map -> the indicator over its commune rows (and those of the communes
    it was formed from), recomputed from the mart as the declaration says it aggregates."""
    column, year = declared["column"], (f"left({declared['year_from']}, 4)" if declared.get("year_from") else "year")
    where = [f"{column} is not null", "unit_level = 'commune'", "current_unit_key is not null"]
    where += [f"{k} = '{v}'" for k, v in (declared.get("where") or {}).items()]
    if declared["aggregate"] == "share":
        meets = f"{column} not in ({', '.join(repr(v) for v in declared['meets']['not_in'])})"
        value = f"round(100.0 * count(distinct unit_key) filter (where {meets}) / count(distinct unit_key), 1)"
    else:
        value = {"mean": f"round(avg({column}), 1)", "sum": f"sum({column})", "value": f"max({column})"}[
            declared["aggregate"]
        ]
    found: dict[str, dict[str, float]] = {}
    for key, y, v in mart(
        data_dir,
        f"select current_unit_key, {year}, {value} from '{{marts}}/{declared['mart']}.parquet' "
        f"where {' and '.join(where)} group by 1, 2",
    ):
        found.setdefault(str(y), {})[key] = v
    return found


def test_every_commune_with_a_figure_is_a_point_on_the_map(ckan, places, sample_build):
    """Not only the communes with a scorecard: each commune of today's map with a value of the chosen
    indicator that year, valued as the indicator aggregates; the legend counts the others."""
    _, data_dir = sample_build
    data = map_json(ckan)
    coordinates = json.loads((REPO / "portal/ckanext-ntm/ckanext/ntm/public/ntm/map/communes-2025.json").read_text())
    names = dict(
        mart(
            data_dir,
            "select unit_key, unit_name from '{marts}/dim_admin_unit.parquet' where list_version = '2025' "
            "and level = 'commune'",
        )
    )
    assert data["commune_total"] == len(coordinates) == len(names) == 3321
    declared = declared_indicators()
    for ind in data["indicators"]:
        expected = commune_values(data_dir, declared[ind["id"]])
        assert ind["communes"] == {y: pytest.approx(v) for y, v in expected.items()}, ind["id"]
        for by_key in ind["communes"].values():
            for key in by_key:
                assert data["communes"][key] == [names[key], *coordinates[key]]
    by_id = {i["id"]: i for i in data["indicators"]}
    broadband = by_id["broadband"]
    assert len(broadband["communes"]["2023"]) > len(broadband["values"]["2023"])  # more points than provinces
    assert by_id["online"]["communes"] == {}  # a province's own figure: no commune points
    # drawn: the first indicator in its latest year, as many points as it has communes; the legend says so
    first = data["indicators"][0]
    year = max(first["classes"])
    dom = chromium("--dump-dom", ckan.address + "/en/map")
    assert f'data-points="{len(first["communes"].get(year, {}))}"' in dom and f'data-year="{year}"' in dom
    without = data["commune_total"] - len(first["communes"].get(year, {}))
    assert f"communes without data: no point ({without})" in unescape(dom)


def test_the_maps_have_one_colour_ramp(ckan, places):
    """The indicator page's SVG map and the portal's map draw with the same classes (portal_data.RAMP);
    ntm-map.js has no colours of its own for values."""
    data = {i["id"]: i for i in map_json(ckan)["indicators"]}
    html = page(ckan, "/en/indicator/broadband?year=2023")
    legend = re.search(r'<div class="ntm-legend"(.*?)</ul>', html, re.S).group(1)
    page_colours = re.findall(r'<rect width="16" height="12" fill="(#[0-9a-f]{6})"', legend)
    map_colours = [c for _, _, c in data["broadband"]["classes"]["2023"]]
    assert page_colours == map_colours and len(set(map_colours)) == 5
    script = (REPO / "portal/ckanext-ntm/ckanext/ntm/public/ntm/map/ntm-map.js").read_text(encoding="utf-8")
    assert not set(re.findall(r"#[0-9a-fA-F]{6}", script)) & set(map_colours)
    assert len(re.findall(r"#[0-9a-fA-F]{6}", script)) <= 1  # the "no data" grey only


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
    shots = {
        "places_vi": "/places",
        "places_en": "/en/places",
        "province_son_la": "/place/2025:province:14",
        "province_dong_thap_en": "/en/place/2025:province:82",
        "grid_en": "/en/grid",
        "grid_criteria_vi": "/grid#ntm-criteria-grid",
        "map_legend": "/map",
    }
    screenshots(ckan.address, shots)
    dom = chromium("--dump-dom", ckan.address + "/map")
    assert 'class="ntm-map-legend' in dom and "chưa có số liệu" in dom
