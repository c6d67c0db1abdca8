"""CKAN's texts in Vietnamese (ckanext.ntm.translate.CKAN_MESSAGES_VI) compile into the catalogue
CKAN's i18n loads, and each keeps its English text's placeholders."""

import gettext
import re
import unicodedata

from ckanext.ntm.translate import CKAN_MESSAGES_VI, write_catalogue


def test_each_translation_keeps_the_placeholders_and_is_nfc():
    for msgid, msgstr in CKAN_MESSAGES_VI.items():
        assert re.findall(r"\{\w*\}", msgid) == re.findall(r"\{\w*\}", msgstr), msgid
        assert msgstr and msgstr != msgid and unicodedata.normalize("NFC", msgstr) == msgstr, msgid


def test_the_compiled_catalogue_answers_in_vietnamese(tmp_path):
    write_catalogue(CKAN_MESSAGES_VI, tmp_path, "vi", "ckanext-ntm")
    catalogue = gettext.translation("ckanext-ntm", str(tmp_path), languages=["vi"])
    assert catalogue.gettext("Skip to main content") == CKAN_MESSAGES_VI["Skip to main content"]
    assert catalogue.gettext("Navigate to Home - {site_title}").format(site_title="NTM").endswith("NTM")
    assert catalogue.gettext("Not a CKAN text") == "Not a CKAN text"
