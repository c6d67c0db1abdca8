"""The portal's DCAT-AP 3.0.1 profile (`ntm_dcat_ap_3`), run after ckanext-dcat's `euro_dcat_ap_3` on
the same graph: it replaces what that profile writes as plain text by the IRIs of the vocabularies
DCAT-AP expects (EU file types and licences, IANA media types, EU languages and data themes), adds
what harvesters need to reach the data (download URLs, landing pages, contact points) and writes
every title and description in both languages, tagged `@vi` and `@en`. The catalogue and each
dataset pass SEMIC's DCAT-AP 3.0.1 SHACL shapes (tests/test_dcat_ap.py)."""

from __future__ import annotations

import json

import ckan.plugins.toolkit as tk
from rdflib import Literal, URIRef

from ckanext.dcat.profiles import DCAT, DCT, FOAF, RDF, SKOS, VCARD, XSD, RDFProfile
from ckanext.dcat.utils import resource_uri

EU = "http://publications.europa.eu/resource/authority"
IANA = "https://www.iana.org/assignments/media-types"
# A resource's format (as CKAN stores it, upper case) -> its EU file type and IANA media type.
FORMATS = {
    "CSV": ("CSV", "text/csv"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "PARQUET": ("PARQUET", "application/vnd.apache.parquet"),
    "JSON": ("JSON", "application/json"),
    "GEOJSON": ("GEOJSON", "application/geo+json"),
    "HTML": ("HTML", "text/html"),
    "PDF": ("PDF", "application/pdf"),
}
# CKAN's licence id -> the EU licence authority's IRI (DCAT-AP's controlled vocabulary).
LICENCES = {"cc-by": f"{EU}/licence/CC_BY_4_0"}
LANGUAGES = (f"{EU}/language/VIE", f"{EU}/language/ENG")
# Every NTM dataset is about rural development: the EU data themes it falls under, with their labels.
THEMES = {
    f"{EU}/data-theme/AGRI": (
        "Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm",
        "Agriculture, fisheries, forestry and food",
    ),
    f"{EU}/data-theme/REGI": ("Vùng và đô thị", "Regions and cities"),
}


def _site() -> str:
    return tk.config.get("ckan.site_url").rstrip("/")


def _list(value) -> list[str]:
    """A field that holds a list, as CKAN returns it or as a JSON string."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    if isinstance(value, str) and value.strip().startswith("["):
        return [str(v) for v in json.loads(value) if v]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


class NtmDCATAP3Profile(RDFProfile):
    """What `euro_dcat_ap_3` leaves out or writes as text, made DCAT-AP 3.0.1 conformant."""

    def graph_from_dataset(self, dataset_dict, dataset_ref):
        self._bilingual(dataset_ref, DCT.title, dataset_dict.get("title"), dataset_dict.get("title_en"))
        self._bilingual(dataset_ref, DCT.description, dataset_dict.get("notes"), dataset_dict.get("notes_en"))
        self.g.remove((dataset_ref, DCAT.keyword, None))
        for tag in dataset_dict.get("tags") or []:
            self.g.add((dataset_ref, DCAT.keyword, Literal(tag["name"], lang="vi")))
        for tag in _list(dataset_dict.get("tags_en")):
            self.g.add((dataset_ref, DCAT.keyword, Literal(tag, lang="en")))
        self._typed(dataset_ref, DCAT.landingPage, f"{_site()}/dataset/{dataset_dict['name']}", FOAF.Document)
        self._typed_each(dataset_ref, DCT.language, _list(dataset_dict.get("language")), DCT.LinguisticSystem)
        self._typed_each(dataset_ref, DCT.spatial, _list(dataset_dict.get("spatial_uri")), DCT.Location)
        provinces = [f"{_site()}/place/2025:province:{code}" for code in _list(dataset_dict.get("spatial_provinces"))]
        self._typed_each(dataset_ref, DCT.spatial, provinces, DCT.Location)
        for theme, (vi, en) in THEMES.items():
            self._typed(dataset_ref, DCAT.theme, theme, SKOS.Concept)
            self.g.add((URIRef(theme), SKOS.prefLabel, Literal(vi, lang="vi")))
            self.g.add((URIRef(theme), SKOS.prefLabel, Literal(en, lang="en")))
        self._contact_point(dataset_dict, dataset_ref)
        for resource in dataset_dict.get("resources") or []:
            self._distribution(dataset_dict, resource, URIRef(resource_uri(resource)))

    def graph_from_catalog(self, catalog_dict, catalog_ref):
        config = tk.config
        self._bilingual(
            catalog_ref, DCT.title, config.get("ntm.dcat.catalog_title"), config.get("ntm.dcat.catalog_title_en")
        )
        self._bilingual(
            catalog_ref,
            DCT.description,
            config.get("ntm.dcat.catalog_description"),
            config.get("ntm.dcat.catalog_description_en"),
        )
        self.g.remove((catalog_ref, DCT.language, None))
        self._typed_each(catalog_ref, DCT.language, LANGUAGES, DCT.LinguisticSystem)
        self._typed(catalog_ref, FOAF.homepage, f"{_site()}/", FOAF.Document, replace=True)
        if name := config.get("ntm.dcat.publisher"):
            publisher = self._typed(catalog_ref, DCT.publisher, f"{_site()}/organization/{name}", FOAF.Agent)
            self._bilingual(
                publisher, FOAF.name, config.get("ntm.dcat.publisher_title"), config.get("ntm.dcat.publisher_title_en")
            )

    # ------------------------------------------------------------------ parts

    def _distribution(self, dataset_dict: dict, resource: dict, ref: URIRef) -> None:
        self._bilingual(ref, DCT.title, resource.get("name"), resource.get("name_en"))
        if resource.get("url"):
            self._typed(ref, DCAT.downloadURL, resource["url"], None)
        file_type, media_type = FORMATS.get((resource.get("format") or "").upper(), (None, None))
        self.g.remove((ref, DCT["format"], None))
        self.g.remove((ref, DCAT.mediaType, None))
        if file_type:
            self._typed(ref, DCT["format"], f"{EU}/file-type/{file_type}", DCT.MediaTypeOrExtent)
            self._typed(ref, DCAT.mediaType, f"{IANA}/{media_type}", DCT.MediaType)
        licence = LICENCES.get(dataset_dict.get("license_id") or "")
        for old in list(self.g.objects(ref, DCT.license)):
            self.g.remove((ref, DCT.license, old))
            if (None, None, old) not in self.g:  # the old licence node, once nothing points to it
                self.g.remove((old, None, None))
        if licence:
            self._typed(ref, DCT.license, licence, DCT.LicenseDocument)
        for size in list(self.g.objects(ref, DCAT.byteSize)):
            self.g.remove((ref, DCAT.byteSize, size))
            self.g.add((ref, DCAT.byteSize, Literal(int(float(size)), datatype=XSD.nonNegativeInteger)))

    def _contact_point(self, dataset_dict: dict, dataset_ref) -> None:
        """The dataset's organization, as the contact point its page on the portal reaches."""
        org = dataset_dict.get("organization") or {}
        if not org.get("name"):
            return
        page = f"{_site()}/organization/{org['name']}"
        contact = URIRef(f"{page}#contact")
        self.g.remove((dataset_ref, DCAT.contactPoint, None))
        self.g.add((dataset_ref, DCAT.contactPoint, contact))
        self.g.add((contact, RDF.type, VCARD.Kind))
        self.g.add((contact, RDF.type, VCARD.Organization))
        self.g.add((contact, VCARD.fn, Literal(org.get("title") or org["name"], lang="vi")))
        self.g.add((contact, VCARD.hasURL, URIRef(page)))

    # ------------------------------------------------------------------ helpers

    def _bilingual(self, subject, predicate, vi: str | None, en: str | None) -> None:
        """`predicate` once in each language, tagged: the Vietnamese text, and the English one."""
        if not vi and not en:
            return
        self.g.remove((subject, predicate, None))
        for text, lang in ((vi, "vi"), (en, "en")):
            if text:
                self.g.add((subject, predicate, Literal(text, lang=lang)))

    def _typed(self, subject, predicate, iri: str, rdf_type, replace: bool = False) -> URIRef:
        obj = URIRef(iri)
        if replace:
            self.g.remove((subject, predicate, None))
        self.g.add((subject, predicate, obj))
        if rdf_type is not None:
            self.g.add((obj, RDF.type, rdf_type))
        return obj

    def _typed_each(self, subject, predicate, iris, rdf_type) -> None:
        for iri in iris:
            self._typed(subject, predicate, iri, rdf_type)
