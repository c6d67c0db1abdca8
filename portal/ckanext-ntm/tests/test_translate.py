"""A page shows the reader's language; the stored record keeps both (ckanext.ntm.translate)."""

from ckanext.ntm.translate import for_language, organization_for_language

DATASET = {
    "title": "Chỉ số hạ tầng số cấp xã",
    "title_en": "Digital infrastructure indicators by commune",
    "notes": "Tỷ lệ hộ gia đình có Internet",
    "notes_en": "Share of households with Internet",
    "tags": [{"name": "hạ tầng số", "display_name": "hạ tầng số"}],
    "tags_en": "digital infrastructure, broadband",
    "update_frequency": "hằng năm",
    "update_frequency_en": "annual",
    "resources": [{"name": "Dữ liệu (CSV, UTF-8)", "name_en": "Data (CSV, UTF-8)"}],
}


def test_english_page_shows_only_english_and_the_record_keeps_both():
    shown = for_language(DATASET, "en")
    assert shown["title"] == "Digital infrastructure indicators by commune"
    assert shown["notes"] == "Share of households with Internet" and shown["update_frequency"] == "annual"
    assert [t["name"] for t in shown["tags"]] == ["digital infrastructure", "broadband"]
    assert shown["resources"][0]["name"] == "Data (CSV, UTF-8)"
    assert DATASET["title"] == "Chỉ số hạ tầng số cấp xã"  # the stored record is not changed


def test_vietnamese_page_shows_vietnamese_and_core_templates_can_translate():
    shown = for_language(DATASET, "vi")
    assert shown["title"] == DATASET["title"] and shown["tags"] == DATASET["tags"]
    # What CKAN's h.get_translated reads in core templates:
    assert shown["title_translated"] == {"vi": DATASET["title"], "en": DATASET["title_en"]}


def test_organization_title_from_its_extras():
    org = {"title": "Sở Nông nghiệp và Môi trường tỉnh Sơn La", "extras": [{"key": "title_en", "value": "Son La DAE"}]}
    assert organization_for_language(org, "en")["display_name"] == "Son La DAE"
    assert organization_for_language(org, "vi")["title"] == org["title"]
