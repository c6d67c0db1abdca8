"""What harvesters read passes DCAT-AP 3.0.1 (issue #28): the catalogue and every dataset's Turtle, in
both interface languages, validate against SEMIC's SHACL shapes (mandatory and range, vendored in
tests/fixtures/dcat-ap/) with pyshacl: 0 violations. Titles and descriptions come in both languages,
tagged, and formats, media types, licences and languages are the vocabularies' IRIs. The sample
marts are published once to the real local CKAN."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from helpers import REPO, copy_marts, dataset_prefix
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from publish.run import publish_marts

pytestmark = pytest.mark.portal

SHAPES = REPO / "tests" / "fixtures" / "dcat-ap"
SH = Namespace("http://www.w3.org/ns/shacl#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
EU = "http://publications.europa.eu/resource/authority"


@pytest.fixture(scope="module")
def published(sample_build, ckan, tmp_path_factory):
    """Every sample mart published once under a prefix of its own: the datasets' names."""
    _, built = sample_build
    data_dir = copy_marts(built, tmp_path_factory.mktemp("dcat_ap") / "data")
    with dataset_prefix(ckan, "dcat-ap"):
        marts = {p.stem: p for p in sorted((data_dir / "marts").glob("*.parquet"))}
        result = publish_marts(marts, {}, data_dir)
        assert result.refused == {}
        yield [d.name for d in result.datasets]


@pytest.fixture(scope="module")
def shapes() -> Graph:
    graph = Graph()
    for name in ("shapes.ttl", "range.ttl"):
        graph.parse(SHAPES / name, format="turtle")
    return graph


def _turtle(url: str) -> Graph:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return Graph().parse(data=resp.read().decode("utf-8"), format="turtle")


def _violations(graph: Graph, shapes: Graph) -> list[str]:
    """pyshacl's violations of the shapes, each as 'focus node — path: message'."""
    from pyshacl import validate

    _, report, _ = validate(graph, shacl_graph=shapes, inference="none", allow_warnings=True)
    return [
        f"{report.value(r, SH.focusNode)} — {report.value(r, SH.resultPath)}: {report.value(r, SH.resultMessage)}"
        for r in report.subjects(RDF.type, SH.ValidationResult)
        if report.value(r, SH.resultSeverity) == SH.Violation
    ]


def _languages(graph: Graph, subject, predicate) -> list[str]:
    return sorted(o.language or "" for o in graph.objects(subject, predicate) if isinstance(o, Literal))


def _documents(address: str, names: list[str]) -> list[str]:
    """The catalogue and every dataset, under both interface languages."""
    paths = ["/catalog.ttl"] + [f"/dataset/{name}.ttl" for name in names]
    return [f"{address}{lang}{path}" for path in paths for lang in ("", "/en")]


def test_the_catalogue_and_every_dataset_pass_the_dcat_ap_3_shapes(ckan, published, shapes):
    found = {url: _violations(_turtle(url), shapes) for url in _documents(ckan.address, published)}
    assert {url: v[:5] for url, v in found.items() if v} == {}
    assert len(found) == 2 * (1 + len(published)) and len(published) == 16


def test_titles_and_descriptions_come_in_both_languages_tagged(ckan, published):
    for url in _documents(ckan.address, published):
        graph = _turtle(url)
        described = [*graph.subjects(RDF.type, DCAT.Catalog), *graph.subjects(RDF.type, DCAT.Dataset)]
        assert described, url
        for subject in described:
            for predicate in (DCT.title, DCT.description):
                assert _languages(graph, subject, predicate) == ["en", "vi"], (url, subject, predicate)
        for distribution in graph.subjects(RDF.type, DCAT.Distribution):
            assert _languages(graph, distribution, DCT.title) == ["en", "vi"], (url, distribution)


def test_files_licence_and_languages_are_the_vocabularies_iris(ckan, published):
    name = next(n for n in published if n.endswith("ntm-hop-tac-xa"))
    graph = _turtle(f"{ckan.address}/dataset/{name}.ttl")
    package = ckan.action.package_show(id=name)
    [dataset] = graph.subjects(RDF.type, DCAT.Dataset)
    assert graph.value(dataset, DCAT.landingPage) == URIRef(f"{ckan.address}/dataset/{name}")
    assert set(graph.objects(dataset, DCT.language)) == {URIRef(f"{EU}/language/VIE"), URIRef(f"{EU}/language/ENG")}
    assert graph.value(dataset, DCAT.contactPoint) is not None and graph.value(dataset, DCAT.theme) is not None
    formats = {str(graph.value(d, DCT["format"])).rsplit("/", 1)[-1] for d in graph.objects(dataset, DCAT.distribution)}
    assert formats == {"CSV", "XLSX", "PARQUET", "JSON"}
    csv = next(r for r in package["resources"] if r["ntm_kind"] == "csv")
    distribution = next(d for d in graph.objects(dataset, DCAT.distribution) if str(d).endswith(csv["id"]))
    assert graph.value(distribution, DCAT.downloadURL) == URIRef(csv["url"])
    assert graph.value(distribution, DCAT.mediaType) == URIRef("https://www.iana.org/assignments/media-types/text/csv")
    assert graph.value(distribution, DCT.license) == URIRef(f"{EU}/licence/CC_BY_4_0")
    size = graph.value(distribution, DCAT.byteSize)
    assert size.datatype == URIRef("http://www.w3.org/2001/XMLSchema#nonNegativeInteger") and int(size) > 0
    catalogue = _turtle(f"{ckan.address}/catalog.ttl")
    [catalog] = catalogue.subjects(RDF.type, DCAT.Catalog)
    publisher = catalogue.value(catalog, DCT.publisher)
    assert str(publisher).endswith("/organization/chuong-trinh-ntm")
    assert _languages(catalogue, publisher, URIRef("http://xmlns.com/foaf/0.1/name")) == ["en", "vi"]
    assert set(catalogue.objects(catalog, DCT.language)) == {URIRef(f"{EU}/language/VIE"), URIRef(f"{EU}/language/ENG")}


def test_the_vendored_shapes_say_where_they_come_from():
    readme = (SHAPES / "README.md").read_text(encoding="utf-8")
    assert "SEMICeu/DCAT-AP" in readme and "3.0.1" in readme
    assert "CC-BY 4.0" in (SHAPES / "LICENCE.txt").read_text(encoding="utf-8")
    assert Path(SHAPES / "shapes.ttl").stat().st_size > 0 and Path(SHAPES / "range.ttl").stat().st_size > 0


def test_spatial_coverage_is_the_place_pages_of_the_provinces_in_the_rows(ckan, published, sample_build):
    """dct:spatial: Viet Nam, and the place page of each province (today's map) the mart has rows in."""
    import pyarrow.parquet as pq

    _, built = sample_build
    name = next(n for n in published if n.endswith("ntm-hop-tac-xa"))
    mart = ckan.action.package_show(id=name)["ntm_mart"]
    codes = set(pq.read_table(built / "marts" / f"{mart}.parquet").column("current_province_code").to_pylist())
    assert codes - {None}, "the sample cooperatives have rows in provinces"
    graph = _turtle(f"{ckan.address}/en/dataset/{name}.ttl")
    [dataset] = graph.subjects(RDF.type, DCAT.Dataset)
    places = {str(s) for s in graph.objects(dataset, DCT.spatial) if "/place/" in str(s)}
    assert places == {f"{ckan.address}/place/2025:province:{code}" for code in codes - {None}}
    for place in places:
        assert (URIRef(place), RDF.type, DCT.Location) in graph
        with urllib.request.urlopen(place, timeout=60) as page:  # the IRI is a page that answers
            assert "2025:province:" in place and page.status == 200
