"""Every page type of the portal, in both languages, as a browser runs it (issues #28 and #29):
axe-core finds no WCAG 2.1 A/AA violation nor
WCAG 2.2 AA's (target size), the console reports no Content-Security-Policy violation nor script
error, and each page describes itself (meta description) in its language.

PAGES is the one list of page types (the Lighthouse benchmark reads it too): a new page type is one
more line there."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html import unescape

import pytest
from axe import WCAG_21_AA, browser, open_page, run_axe
from helpers import published_site

pytestmark = pytest.mark.portal
# page type → path on the portal ("{dataset}": the published infrastructure dataset's name).
# benchmarks/bench_portal_lighthouse.py measures the same list, and a resource page and the
# submission page besides.
PAGES = {
    "home": "/",
    "dataset list": "/dataset/",
    "dataset": "/dataset/{dataset}",
    "map": "/map",
    "places": "/places",
    "province": "/place/2025:province:14",
    "commune": "/place/2024:commune:03664",
    "grid": "/grid",
    "indicators": "/indicators",
    "indicator": "/indicator/broadband",
}
# WCAG 2.1 A/AA and WCAG 2.2 AA's one new rule axe checks: target size (24 × 24 px or spaced so).
AXE_TAGS = [*WCAG_21_AA, "wcag22aa"]
LANGUAGES = {"vi": "", "en": "/en"}
VIETNAMESE_LETTERS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


@pytest.fixture(scope="module")
def site(ckan, sample_build):
    """The marts the pages read, and the map, published once for the module under a prefix of its own."""
    with published_site(ckan, sample_build[1], "a11y") as published:
        yield {"dataset": published["fact_digital_infrastructure"]}


def page_urls(ckan, site) -> list[tuple[str, str]]:
    return [
        (f"{kind} ({lang})", ckan.address + prefix + path.format(**site))
        for kind, path in PAGES.items()
        for lang, prefix in LANGUAGES.items()
    ]


@pytest.fixture(scope="module")
def seen(ckan, site) -> dict[str, dict]:
    """Each page as the browser ran it, opened once for the tests below (in a new tab of one browser):
    its CSP violations and script errors, the map's drawn shapes, then axe-core's violations."""
    found = {}
    with browser() as devtools:
        for name, url in page_urls(ckan, site):
            with open_page(url, devtools=devtools) as page:
                found[name] = {"csp": page.csp_violations(), "errors": page.errors()}
                if name.startswith(("map", "home")):
                    found[name]["drawn"] = page.evaluate(
                        "document.querySelectorAll('#ntm-map path.leaflet-interactive').length"
                    )
                found[name]["axe"] = run_axe(page, AXE_TAGS)
    return found


def test_every_page_type_passes_axe_in_both_languages(seen):
    broken = {
        name: [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in page["axe"]]
        for name, page in seen.items()
        if page["axe"]
    }
    assert len(seen) == len(PAGES) * len(LANGUAGES)
    assert not broken, broken


def test_pages_run_under_the_csp_with_a_clean_console_and_the_map_draws(seen):
    for name, page in seen.items():
        assert not page["csp"], (name, page["csp"])
        assert not page["errors"], (name, page["errors"])
        if "drawn" in page:
            assert page["drawn"] >= 34, (name, page["drawn"])  # today's 34 provinces


def test_every_page_type_describes_itself_in_its_language(ckan, site):
    for kind, path in PAGES.items():
        described = {}
        for lang, prefix in LANGUAGES.items():
            with urllib.request.urlopen(ckan.address + prefix + path.format(**site)) as response:
                html = response.read().decode("utf-8")
            found = re.search(r'<meta name="description" content="([^"]*)"', html)
            assert found and len(unescape(found.group(1)).strip()) >= 20, (kind, lang)
            described[lang] = unescape(found.group(1))
        assert described["vi"] != described["en"], kind


def read(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")


def test_screen_reader_texts_and_error_pages_speak_the_page_language(ckan):
    from helpers import REPO

    CKAN_MESSAGES_VI = _load(REPO / "portal" / "ckanext-ntm" / "ckanext" / "ntm" / "translate.py").CKAN_MESSAGES_VI
    status, vietnamese = read(ckan.address + "/no-such-page")
    assert status == 404 and "Không tìm thấy trang" in vietnamese and "not found on the server" not in vietnamese
    assert f'href="#content">{CKAN_MESSAGES_VI["Skip to main content"]}<' in vietnamese
    assert f'aria-label="{CKAN_MESSAGES_VI["Toggle navigation"]}"' in vietnamese
    status, english = read(ckan.address + "/en/no-such-page")
    assert status == 404 and "Page not found" in english and 'href="#content">Skip to main content<' in english
    status, forbidden = read(ckan.address + "/submit")
    assert status == 403 and "Không có quyền truy cập" in forbidden and 'href="/user/login"' in forbidden


def test_the_submit_link_is_for_signed_in_department_editors_only(ckan):
    for prefix in LANGUAGES.values():
        _, html = read(ckan.address + prefix + "/")
        assert 'href="/submit"' not in html and "Gửi số liệu" not in html and "Submit data" not in html


def test_english_dataset_page_shows_the_organisation_and_licence_in_english(ckan, site):
    package = ckan.action.package_show(id=site["dataset"])
    organization = ckan.action.organization_show(id=package["owner_org"], include_datasets=False)
    extras = {e["key"]: e["value"] for e in organization.get("extras", [])}
    title_en = organization.get("title_en") or extras.get("title_en")
    assert title_en and title_en != organization["title"]
    _, english = read(f"{ckan.address}/en/dataset/{site['dataset']}")
    sidebar = english[english.index('class="secondary') :]
    assert unescape(title_en) in unescape(sidebar) and organization["title"] not in unescape(sidebar)
    licence = re.search(r'rel="dc:rights">([^<]+)<', english) or re.search(r'property="dc:rights">([^<]+)<', english)
    assert licence and "Creative Commons" in licence.group(1) and not VIETNAMESE_LETTERS & set(licence.group(1).lower())


def _load(path):
    """The extension's language module (it imports no CKAN) from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ntm_translate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
