"""The portal a citizen recognises (ckanext-ntm on the real local CKAN): the program's home with its
figures and no CKAN placeholder, every page in the reader's language while the API keeps both,
and a commune found by its name without diacritics, on its own page."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import urllib.request
from html import unescape

import pytest
from helpers import REPO, SCREENSHOTS, chromium, published_site, screenshots

from ntm_core.departments import expected_updates
from publish.run import PublishResult, publish_map_files

pytestmark = pytest.mark.portal
PLACEHOLDERS = (
    "Welcome to CKAN",
    "Chào mừng gia nhập CKAN",
    "placeholder-420x220",
    "This is a nice introductory paragraph",
    "Đây là đoạn giới thiệu hay",
    "This is a featured section",
    "ckan-logo",
)


@pytest.fixture(scope="module")
def site(ckan, sample_build):
    """The marts a place page reads, published once for the module under a prefix of its own."""
    with published_site(ckan, sample_build[1], "site") as published:
        yield published


def page(ckan, path: str) -> str:
    with urllib.request.urlopen(ckan.address + path) as response:
        return response.read().decode("utf-8")


def titles(html: str) -> list[str]:
    found = re.findall(r'<h2 class="dataset-heading">.*?<a [^>]*>\s*([^<]+?)\s*</a>', html, re.S)
    return [unescape(t.strip()) for t in found]  # "department's" is "department&#39;s" in the page


def test_each_language_shows_only_its_titles_and_the_api_keeps_both(ckan, site):
    english, vietnamese = titles(page(ckan, "/en/dataset/")), titles(page(ckan, "/dataset/"))
    for name in (n for k, n in site.items() if k != "prefix"):
        package = ckan.action.package_show(id=name)
        assert package["title"] and package["title_en"] and package["title"] != package["title_en"]
        assert package["title_en"] in english and package["title"] not in english
        assert package["title"] in vietnamese and package["title_en"] not in vietnamese
    dataset = page(ckan, f"/en/dataset/{site['fact_digital_infrastructure']}")
    assert "annual" in dataset and "Vietnamese, English" in dataset and "hằng năm" not in dataset
    assert "publications.europa.eu" not in dataset  # vocabulary URIs stay in the DCAT output
    assert "Data (CSV, UTF-8)" in dataset and "broadband" in dataset and "hạ tầng số" not in dataset
    rdf = page(ckan, f"/dataset/{site['fact_digital_infrastructure']}.ttl")
    assert "publications.europa.eu/resource/authority/frequency/ANNUAL" in rdf


def test_no_page_shows_ckan_placeholders(ckan, site):
    paths = ["/", "/en/", "/about", "/en/about", "/dataset/", f"/dataset/{site['dim_criterion']}"]
    for path in paths:
        html = page(ckan, path)
        assert not [p for p in PLACEHOLDERS if p in html], path
    home = page(ckan, "/")
    assert "Cổng dữ liệu mở Nông thôn mới" in home and "ntm-figure-value" in home  # figures from the marts
    assert "New Rural Development open data" in page(ckan, "/en/")


def test_home_figures_are_the_declared_indicators_recomputed_from_the_mart(ckan, site, sample_build):
    """The broadband figure: the mean of the country's commune figures in the indicator's latest year,
    written as each language writes numbers, with how many of today's 34 provinces have data."""
    import duckdb

    mart = sample_build[1] / "marts" / "fact_digital_infrastructure.parquet"
    rows = f"from '{mart}' where fixed_broadband_household_pct is not null and current_province_code is not null"
    (year,) = duckdb.sql(f"select max(year) {rows}").fetchone()
    (provinces,) = duckdb.sql(f"select count(distinct current_province_code) {rows} and year = {year}").fetchone()
    (mean,) = duckdb.sql(  # every commune with a figure that year
        f"select round(avg(fixed_broadband_household_pct), 1) from '{mart}' "
        f"where unit_level = 'commune' and year = {year} and fixed_broadband_household_pct is not null"
    ).fetchone()
    figures = {
        lang: re.search(r'data-indicator="broadband">(.*?)</li>', page(ckan, path), re.S).group(1)
        for lang, path in (("vi", "/"), ("en", "/en/"))
    }
    shown = f"{mean:.1f}".removesuffix(".0")
    assert f">{shown.replace('.', ',')} %</strong>" in figures["vi"]
    assert f">{shown}%</strong>" in figures["en"]
    assert f"{year} ·" in figures["vi"] and f"{provinces}/34 tỉnh có số liệu" in figures["vi"]
    assert f"{provinces} of 34 provinces with data" in figures["en"] and "/indicator/broadband" in figures["en"]


def freshness_rows(html: str) -> dict[str, tuple[str, str]]:
    """department -> (status class, status words) of the freshness table on a page."""
    row = r'<tr class="ntm-freshness-(\w+)">.*?/organization/([\w-]+)".*?<strong>([^<]+)</strong>'
    rows = re.findall(row, html, re.S)
    return {department: (status, words) for status, department, words in rows}


def test_dataset_and_department_pages_say_how_fresh_the_files_behind_them_are(ckan, site, sample_build):
    import duckdb

    _, data_dir = sample_build
    every = duckdb.sql(
        f"select department, status, status_vi, status_en from '{data_dir}/marts/fact_dataset_freshness.parquet' "
        "where dataset = 'digital_infrastructure'"
    ).fetchall()
    # the mart has every department the registry expects it of: the science department of each of the 34
    # provinces; the dataset's page, the departments whose files it is built from
    registry = expected_updates()
    assert {d for d, *_ in every} == {r["department"] for r in registry if r["dataset"] == "digital_infrastructure"}
    package = ckan.action.package_show(id=site["fact_digital_infrastructure"])
    assert package["source_datasets"] == "digital_infrastructure"  # from dbt's lineage
    sources = {d.strip() for d in package["source_departments"].split(",")}
    expected = [row for row in every if row[0] in sources]
    assert {d for d, *_ in expected} == {"so-khcn-dong-thap", "so-khcn-son-la"}
    english = freshness_rows(page(ckan, f"/en/dataset/{site['fact_digital_infrastructure']}"))
    vietnamese = freshness_rows(page(ckan, f"/dataset/{site['fact_digital_infrastructure']}"))
    assert english == {d: (status, words_en) for d, status, _, words_en in expected}
    assert vietnamese == {d: (status, words_vi) for d, status, words_vi, _ in expected}
    # The department's page lists every dataset the program expects of it.
    department = page(ckan, "/en/organization/so-khcn-dong-thap")
    expected_datasets = duckdb.sql(
        f"select dataset from '{data_dir}/marts/fact_dataset_freshness.parquet' where department = 'so-khcn-dong-thap'"
    ).fetchall()
    in_registry = [r for r in registry if r["department"] == "so-khcn-dong-thap"]
    assert len(re.findall(r'<tr class="ntm-freshness-', department)) == len(expected_datasets) == len(in_registry) == 3
    # The menu leads to the map, the places and the indicators; the submission page only for a
    # signed-in editor.
    assert {"/en/map", "/en/places", "/en/indicators"} <= {href for href, _, _ in menu_links(department)}
    assert 'href="/en/submit"' not in department


def menu_links(html: str) -> list[tuple[str, str, str]]:
    """The main menu's links: (href, aria-current or "", text)."""
    menu = html[html.index('id="main-navigation-toggle"') :]
    menu = menu[: menu.index("</ul>")]
    links = []
    for attributes, text in re.findall(r"<a ([^>]*)>([^<]*)</a>", menu):
        href = re.search(r'href="([^"]*)"', attributes).group(1)
        current = re.search(r'aria-current="([^"]*)"', attributes)
        links.append((href, current.group(1) if current else "", unescape(text).strip()))
    return links


def test_the_menu_leads_to_the_indicators_and_marks_the_page_shown(ckan, site):
    # page → the one menu item marked current: "page" on the item's own page, "true" under it.
    marked = {
        "/indicators": ("/indicators", "page"),
        "/en/indicators": ("/en/indicators", "page"),
        "/en/indicator/broadband": ("/en/indicators", "true"),
        "/en/map": ("/en/map", "page"),
        "/en/places": ("/en/places", "page"),
        "/en/place/2025:province:14": ("/en/places", "true"),
        "/en/dataset/": ("/en/dataset/", "page"),
    }
    for path, current in marked.items():
        links = menu_links(page(ckan, path))
        assert [(href, mark) for href, mark, _ in links if mark] == [current], (path, links)
    assert ("/indicators", "Chỉ số") in {(href, text) for href, _, text in menu_links(page(ckan, "/"))}
    assert ("/en/indicators", "Indicators") in {(href, text) for href, _, text in menu_links(page(ckan, "/en/"))}


def test_searching_a_commune_without_diacritics_leads_to_its_place_page(ckan, site):
    results = page(ckan, "/dataset/?q=chieng+xom")
    link = re.search(r'href="(/place/2024:commune:03664)">Xã Chiềng Xôm<', results)
    assert link, "the search lists the commune"
    place = page(ckan, link.group(1))
    assert "Xã Chiềng Xôm, Tỉnh Sơn La" in place
    assert "46.32" in place  # its fibre share, from the digital-infrastructure table
    assert "Phường Chiềng An" in place  # its successor on today's map, from the crosswalk
    english = page(ckan, "/en" + link.group(1))
    assert "Households with fibre (%)" in english and "Before and after the reorganisation" in english


def test_the_province_map_is_todays_34_provinces_with_hoang_sa_and_truong_sa(ckan):
    geo = json.loads(page(ckan, "/ntm/map/provinces-2025.geojson"))  # as the portal serves it
    with open(REPO / "dbt_project" / "seeds" / "admin_units" / "admin_units.csv", encoding="utf-8") as f:
        provinces = {
            r["unit_code"]: r["unit_name"] for r in csv.DictReader(f) if r["unit_key"].startswith("2025:province:")
        }
    assert sorted(f["properties"]["code"] for f in geo["features"]) == sorted(provinces)
    assert {f["properties"]["code"]: f["properties"]["name"] for f in geo["features"]} == provinces

    def east(name):
        [feature] = [f for f in geo["features"] if f["properties"]["name"] == name]
        polygons = feature["geometry"]["coordinates"]
        polygons = polygons if feature["geometry"]["type"] == "MultiPolygon" else [polygons]
        return max(x for polygon in polygons for ring in polygon for x, _ in ring)

    assert east("Thành phố Đà Nẵng") > 111  # with Hoàng Sa
    assert east("Tỉnh Khánh Hòa") > 114  # with Trường Sa


def test_the_map_is_published_as_geojson_with_a_map_preview(ckan, site):
    package = ckan.action.package_show(id=site["map"])
    [resource] = package["resources"]
    assert resource["format"] == "GeoJSON" and package["title_en"].startswith("Boundaries of the 34 provinces")
    assert [v["view_type"] for v in ckan.action.resource_view_list(id=resource["id"])] == ["ntm_map"]
    with urllib.request.urlopen(resource["url"]) as response:
        assert len(json.loads(response.read())["features"]) == 34
    dom = chromium("--dump-dom", f"{ckan.address}/dataset/{site['map']}/resource/{resource['id']}")
    assert 'data-features="34"' in dom
    os.environ["NTM_DATASET_PREFIX"] = site["prefix"]
    try:
        assert publish_map_files(PublishResult()).maps == [(site["map"], "unchanged")]  # idempotent
    finally:
        os.environ.pop("NTM_DATASET_PREFIX", None)


def test_home_map_and_place_pages_in_a_browser(ckan, site):
    shots = {
        "home_vi": "/",
        "home_en": "/en/",
        "place_commune": "/place/2024:commune:03664",
        "place_province": "/place/2024:province:14",
        "dataset_en": f"/en/dataset/{site['fact_digital_infrastructure']}",
    }
    screenshots(ckan.address, shots)
    dom = chromium("--dump-dom", ckan.address + "/place/2024:province:14")
    assert "Tỉnh Sơn La" in dom
    for path in ("/", "/en/map"):  # the map draws every province of today's map, offline
        chromium(f"--screenshot={SCREENSHOTS / ('map' + path.replace('/', '_') + '.png')}", ckan.address + path)
        assert 'data-features="34"' in chromium("--dump-dom", ckan.address + path), path
    # The home page and what it loads stay small: at most 1 MB as a compressing web server sends it
    # (CKAN's own scripts and styles are most of it; the local portal itself sends them unzipped).
    home = page(ckan, "/")
    assets = set(re.findall(r'(?:src|href)="(/[^"]+\.(?:css|js|svg|png))"', home))
    sizes = [len(gzip.compress(home.encode()))]
    sizes += [len(gzip.compress(urllib.request.urlopen(ckan.address + a).read())) for a in assets]
    assert sum(sizes) <= 1_000_000, sizes
