"""Indicator pages and commune profiles (#29): every indicator is declared once, completely, in the
marts' dbt YAML (`meta.indicator`); its page shows a chart, a map, a table and a download whose rows
are the table's, in both languages; a commune's page draws its figures (Observable Plot, vendored)
and says in a sentence how each compares with its province and the country, numbers the test
recomputes from the marts."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import urllib.parse
import urllib.request
from html import unescape

import pytest
from helpers import REPO, chromium, dataset_prefix, declared_indicators, screenshots

from publish.run import publish_marts

MARTS = [
    "dim_admin_unit",
    "dim_admin_unit_crosswalk",
    "dim_criterion",
    "fact_commune_scorecard",
    "fact_commune_assessment",
    "fact_digital_infrastructure",
    "fact_online_public_services",
]
REQUIRED = ("id", "label_vi", "label_en", "unit", "direction", "aggregate")
BOTH_LANGUAGES = ("definition", "method", "source")
VENDOR = REPO / "portal/ckanext-ntm/ckanext/ntm/public/ntm/vendor"
CHIENG_XOM = "2024:commune:03664"  # Sơn La, fixed broadband 46.32 % in 2023 (the samples)
MY_THO = "2025:commune:30076"  # Đồng Tháp, formed from four communes with scorecards


def test_every_indicator_is_declared_completely_in_the_mart_yaml():
    """Unit, direction, aggregation, and definition, method and source in both languages; the
    decisions it cites are criteria sets of the reference data (seeds/reference/criteria_sets.csv)."""
    declared = declared_indicators()
    assert {"broadband", "online", "recognised"} <= set(declared)
    with open(REPO / "dbt_project/seeds/reference/criteria_sets.csv", encoding="utf-8") as f:
        decisions = {row["decision_no"] for row in csv.DictReader(f)}
    for key, d in declared.items():
        missing = [k for k in REQUIRED if not d.get(k)]
        missing += [f"{k}_{lang}" for k in BOTH_LANGUAGES for lang in ("vi", "en") if not d.get(f"{k}_{lang}")]
        assert missing == [], (key, missing)
        assert d["direction"] in ("higher", "lower") and d["aggregate"] in ("mean", "share", "sum", "value"), key
        if d["aggregate"] == "share":
            assert d.get("meets"), f"{key}: a share needs the threshold a commune meets"
        for k in BOTH_LANGUAGES:
            assert unicodedata.is_normalized("NFC", d[f"{k}_vi"]) and re.search("[ạ-ỹđ]", d[f"{k}_vi"]), (key, k)
        assert set(d.get("decisions") or []) <= decisions, key


def test_the_chart_library_is_vendored_with_its_licence_and_version():
    lock = json.loads((VENDOR / "plot" / "package-lock.json").read_text(encoding="utf-8"))
    plot = lock["packages"]["node_modules/@observablehq/plot"]["version"]
    code = (VENDOR / "plot" / "plot.umd.min.js").read_text(encoding="utf-8")
    assert code.startswith(f"// @observablehq/plot v{plot}")
    assert "ISC" in (VENDOR / "plot" / "LICENSE").read_text() and "ISC" in (VENDOR / "d3" / "LICENSE").read_text()
    d3 = lock["packages"]["node_modules/d3"]["version"]
    assert f"// https://d3js.org v{d3}" in (VENDOR / "d3" / "d3.min.js").read_text(encoding="utf-8")[:100]


# ---------------------------------------------------------------- on the portal


@pytest.fixture(scope="module")
def published(ckan, sample_build):
    _, data_dir = sample_build
    with dataset_prefix(ckan, "indicators"):
        publish_marts({m: data_dir / "marts" / f"{m}.parquet" for m in MARTS}, {}, data_dir)
        yield data_dir


def fetch(ckan, path: str) -> bytes:
    with urllib.request.urlopen(ckan.address + urllib.parse.quote(path, safe="/:?=&")) as response:
        return response.read()


def page(ckan, path: str) -> str:
    return fetch(ckan, path).decode("utf-8")


def mart(data_dir, query: str) -> list[tuple]:
    import duckdb

    return duckdb.sql(query.replace("{marts}", str(data_dir / "marts"))).fetchall()


def shown_number(text: str) -> float | None:
    text = unescape(text).strip()
    return None if text in ("–", "") else float(text.replace(",", "."))


def table_of(html: str) -> tuple[list[str], list[list]]:
    """The indicator page's table: header and rows (code, province, a value per year)."""
    table = re.search(r'<table class="table table-striped table-sm ntm-indicator-table">(.*?)</table>', html, re.S)
    header = [unescape(h) for h in re.findall(r'<th scope="col">([^<]*)</th>', table.group(1))]
    rows = []
    for body in re.findall(r'<tr class="ntm-indicator-row" data-code="\d+">(.*?)</tr>', table.group(1), re.S):
        name = unescape(re.search(r"<a [^>]*>([^<]+)</a>", body).group(1))
        cells = re.findall(r"<td>([^<]*)</td>", body)
        rows.append([cells[0], name, *(shown_number(c) for c in cells[1:])])
    return header, rows


@pytest.mark.portal
def test_the_indicator_page_table_equals_its_downloads_and_the_marts(ckan, published):
    for key in declared_indicators():
        for lang in ("", "/en"):
            header, rows = table_of(page(ckan, f"{lang}/indicator/{key}"))
            assert rows, key
            text = fetch(ckan, f"{lang}/indicator/{key}.csv").decode("utf-8")
            assert text.startswith("\ufeff")
            downloaded = list(csv.reader(io.StringIO(text[1:])))
            assert downloaded[0] == header, key
            assert [[r[0], r[1], *(float(v) if v else None for v in r[2:])] for r in downloaded[1:]] == rows, key
            import openpyxl

            book = openpyxl.load_workbook(io.BytesIO(fetch(ckan, f"{lang}/indicator/{key}.xlsx")))
            sheet = [list(r) for r in book.active.iter_rows(values_only=True)]
            assert sheet[0] == header and [[*r[:2], *r[2:]] for r in sheet[1:]] == rows, key
    # the broadband table: the mean of each province's communes (no province reported its own figure)
    _, rows = table_of(page(ckan, "/en/indicator/broadband"))
    expected = mart(
        published,
        "select current_province_code, round(avg(fixed_broadband_household_pct), 1) "
        "from '{marts}/fact_digital_infrastructure.parquet' where unit_level = 'commune' "
        "and fixed_broadband_household_pct is not null group by 1 order by 1",
    )
    assert sorted((r[0], r[2]) for r in rows) == [(c, pytest.approx(v)) for c, v in expected]


@pytest.mark.portal
def test_the_indicator_page_in_both_languages_with_its_tabs_map_and_chart(ckan, published):
    declared = declared_indicators()
    for lang, suffix in (("vi", ""), ("en", "/en")):
        listing = page(ckan, f"{suffix}/indicators")
        assert set(re.findall(r'data-indicator="(\w+)"', listing)) == set(declared)
        for key, d in declared.items():
            html = page(ckan, f"{suffix}/indicator/{key}")
            for field in ("label", "definition", "method", "source"):
                assert unescape(d[f"{field}_{lang}"]) in unescape(html), (key, lang, field)
            other = "en" if lang == "vi" else "vi"
            assert d[f"definition_{other}"] not in html, (key, lang)
            for tab in ("chart", "map", "table", "download"):
                assert f'href="#{tab}"' in html and f'id="{tab}"' in html, tab
            # the map: the 34 provinces, those without a value hatched, as many as the table leaves out
            _, rows = table_of(html)
            paths = re.findall(r'<path d="[^"]+" fill="([^"]+)"[^>]*data-code="(\d+)" data-value="([^"]+)"', html)
            latest = {r[0] for r in rows if r[-1] is not None}
            assert len(paths) == 34 and {c for f, c, v in paths if v != "none"} == latest, key
            assert all(f == "url(#ntm-hatch)" for f, _, v in paths if v == "none")
            assert 'class="ntm-legend-none"' in html
            spec = json.loads(re.search(r'class="ntm-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
            assert [s["name"] for s in spec["series"]] == [r[1] for r in rows] and spec["alt"]
            scripts = re.findall(r'<script src="([^"]+)"', html)
            assert any("/ntm/vendor/plot/plot.umd.min.js" in s for s in scripts)
            assert not any(s.startswith(("http:", "https:", "//")) for s in scripts), scripts
    assert "ntm-charts.js" in page(ckan, "/indicator/broadband")


def expected_sentence(value: float, year: int, province: float, country: float, lang: str) -> str:
    """The comparison a reader should see, recomputed: figures with one decimal, comma in Vietnamese,
    the year of the commune's figure, the others of the same year, "the country" as what it is."""

    def shown(v):
        text = f"{v:.1f}".removesuffix(".0")
        return text + "%" if lang == "en" else text.replace(".", ",") + " %"

    def word(v, reference):
        if f"{v:.1f}" == f"{reference:.1f}":
            return "equal to" if lang == "en" else "bằng"
        if v > reference:
            return "above" if lang == "en" else "cao hơn"
        return "below" if lang == "en" else "thấp hơn"

    if lang == "en":
        return (
            f"{shown(value)} (in {year}) — {word(value, province)} the province average the same year "
            f"({shown(province)}); {word(value, country)} the mean of communes with data nationwide the same year "
            f"({shown(country)})"
        )
    return (
        f"{shown(value)} (năm {year}) — {word(value, province)} mức trung bình tỉnh cùng năm ({shown(province)}); "
        f"{word(value, country)} trung bình các xã có số liệu trên cả nước cùng năm ({shown(country)})"
    )


@pytest.mark.portal
def test_a_commune_page_shows_a_chart_and_compares_with_its_province_and_the_country(ckan, published):
    [(value, province, year)] = mart(
        published,
        "select fixed_broadband_household_pct, current_province_code, year "
        f"from '{{marts}}/fact_digital_infrastructure.parquet' where unit_key = '{CHIENG_XOM}'",
    )
    [(province_mean,)] = mart(
        published,
        "select round(avg(fixed_broadband_household_pct), 1) from '{marts}/fact_digital_infrastructure.parquet' "
        f"where current_province_code = '{province}' and unit_level = 'commune' and year = {year}",
    )
    [(country_mean,)] = mart(
        published,
        "select round(avg(fixed_broadband_household_pct), 1) from '{marts}/fact_digital_infrastructure.parquet' "
        f"where unit_level = 'commune' and year = {year}",
    )
    assert round(value, 1) == 46.3 and province_mean == 49.3  # the samples' Chiềng Xôm and Sơn La
    for lang, prefix in (("vi", ""), ("en", "/en")):
        dom = chromium("--dump-dom", f"{ckan.address}{prefix}/place/{CHIENG_XOM}")
        sentence = rf'<p class="ntm-comparison" data-unit="{CHIENG_XOM}" data-year="{year}">.*?<strong>(.*?)</strong>'
        said = re.search(sentence, dom, re.S)
        assert said and unescape(said.group(1)) == expected_sentence(value, year, province_mean, country_mean, lang)
        # the chart, drawn by Plot from the page's JSON, beside the table of the same figures
        assert re.search(r'id="chart-broadband"[^>]*data-rendered="plot"', dom), lang
        assert re.search(r'<svg[^>]*class="plot-[^"]*"[^>]*role="img"', dom) or "plot-d6a7b5" in dom
        assert 'id="table-broadband"' in dom and 'id="ntm-data"' in dom
    english = page(ckan, f"/en/place/{CHIENG_XOM}")
    assert "Figures over the years" in english and "Số liệu qua các năm" not in english


@pytest.mark.portal
def test_a_commune_of_2025_shows_the_scorecards_of_the_communes_it_was_formed_from(ckan, published):
    cards = mart(
        published,
        "select unit_key, year, criteria_set, criteria_met, criteria_total "
        f"from '{{marts}}/fact_commune_scorecard.parquet' where current_unit_key = '{MY_THO}'",
    )
    items = dict(
        mart(
            published,
            "select unit_key || '|' || year || '|' || criteria_set, count(*) "
            f"from '{{marts}}/fact_commune_assessment.parquet' where current_unit_key = '{MY_THO}' group by 1",
        )
    )
    assert len(cards) >= 2
    html = page(ckan, f"/place/{MY_THO}")
    shown = re.findall(
        r'<section class="ntm-commune-card" data-unit="([^"]+)" data-year="(\d+)" data-set="([^"]+)".*?'
        r"<strong>(\d+)/(\d+)</strong>(.*?)</section>",
        html,
        re.S,
    )
    assert sorted((u, int(y), s, int(m), int(t)) for u, y, s, m, t, _ in shown) == sorted(cards)
    for u, y, s, _, _, body in shown:
        assert body.count('<tr class="ntm-criterion"') == items[f"{u}|{y}|{s}"], (u, y, s)
    assert "Hình thành từ" in html and "Nhóm xã" in html


@pytest.mark.portal
def test_a_commune_is_compared_with_its_commune_group(ckan, published, marts_copy):
    """The samples give no commune group: here every scorecard of Đồng Tháp says group 2, and Xã Mỹ
    Thọ's fibre figure is compared with the mean of the group's communes."""
    from helpers import tamper

    tamper(
        marts_copy,
        "fact_commune_scorecard",
        "select * replace (case when current_province_code = '82' then '2' else commune_group end as commune_group) "
        "from m",
    )
    [(year, value)] = mart(
        marts_copy,
        "select year, fixed_broadband_household_pct from '{marts}/fact_digital_infrastructure.parquet' "
        "where unit_key = '2024:commune:30100'",
    )
    [(group_mean,)] = mart(  # the group's communes in the same year as the commune's figure
        marts_copy,
        "select round(avg(fixed_broadband_household_pct), 1) from '{marts}/fact_digital_infrastructure.parquet' "
        "where unit_level = 'commune' and year = "
        f"{year} and unit_key in (select unit_key from '{{marts}}/fact_commune_scorecard.parquet' "
        "where commune_group = '2')",
    )
    with dataset_prefix(ckan, "groups"):
        marts = ("fact_commune_scorecard", "fact_digital_infrastructure")
        publish_marts({m: marts_copy / "marts" / f"{m}.parquet" for m in marts}, {}, marts_copy)
        html = unescape(page(ckan, "/place/2024:commune:30100"))
        english = unescape(page(ckan, "/en/place/2024:commune:30100"))
    shown = f"{group_mean:.1f}".removesuffix(".0")
    word = "cao hơn" if value > group_mean else "thấp hơn" if value < group_mean else "bằng"
    assert f"{word} mức trung bình nhóm xã 2 cùng năm ({shown.replace('.', ',')} %)" in html
    assert f"the average of commune group 2 the same year ({shown}%)" in english
    assert f"(năm {year})" in html and f"(in {year})" in english
    assert re.search(r"Nhóm xã \(bộ tiêu chí 2026–2030\):\s*<strong>2</strong>", html)


@pytest.mark.portal
def test_screenshots_of_the_indicator_and_commune_pages(ckan, published):
    shots = {
        "indicators_vi": "/indicators",
        "indicator_broadband_vi": "/indicator/broadband",
        "indicator_recognised_map_en": "/en/indicator/recognised#map",
        "indicator_online_table_en": "/en/indicator/online#table",
        "commune_chieng_xom_vi": f"/place/{CHIENG_XOM}",
        "commune_my_tho_en": f"/en/place/{MY_THO}",
    }
    screenshots(ckan.address, shots)
