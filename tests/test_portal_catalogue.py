"""What harvesters read from the portal: metadata in a declared schema (ckanext-scheming) and DCAT
(ckanext-dcat, DCAT-AP 3) for every dataset and the catalogue, with the licence, period, frequency,
languages and the downloadable distributions."""

import urllib.request

import pytest

from publish.run import publish_marts

pytestmark = pytest.mark.portal


def _get(url: str) -> str:
    with urllib.request.urlopen(url) as resp:
        assert resp.status == 200
        return resp.read().decode("utf-8")


def test_each_dataset_is_described_in_dcat_for_harvesters(ckan, marts_copy, prefix):
    mart = marts_copy / "marts" / "fact_digital_infrastructure.parquet"
    [published] = publish_marts({"fact_digital_infrastructure": mart}, {}, marts_copy).datasets
    package = ckan.action.package_show(id=published.name)
    turtle = _get(f"{ckan.address}/dataset/{published.name}.ttl")
    assert "a dcat:Dataset" in turtle
    assert f'"{package["title"]}"@vi' in turtle and "Chỉ số hạ tầng số cấp xã" in package["title"]
    assert f'"{package["title_en"]}"@en' in turtle
    assert "frequency/ANNUAL" in turtle and "language/VIE" in turtle
    assert 'dcat:startDate "2023-01-01"^^xsd:date' in turtle and 'dcat:endDate "2023-12-31"^^xsd:date' in turtle
    assert "dct:license <http://publications.europa.eu/resource/authority/licence/CC_BY_4_0>" in turtle
    for resource in package["resources"]:  # every file is a distribution with its download URL
        assert resource["url"] in turtle
    assert turtle.count("a dcat:Distribution") == len(package["resources"])
    catalogue = _get(f"{ckan.address}/catalog.ttl")
    assert f"{ckan.address}/dataset/{package['id']}" in catalogue
    assert '"@context"' in _get(f"{ckan.address}/dataset/{published.name}.jsonld")


def test_dataset_metadata_follows_the_declared_schema(ckan, marts_copy, prefix):
    import yaml
    from helpers import REPO

    schema = ckan.action.scheming_dataset_schema_show(type="dataset")
    declared = yaml.safe_load((REPO / "portal" / "schemas" / "ntm_dataset.yaml").read_text(encoding="utf-8"))
    assert [f["field_name"] for f in schema["dataset_fields"]] == [f["field_name"] for f in declared["dataset_fields"]]
    mart = marts_copy / "marts" / "fact_cooperatives.parquet"
    [published] = publish_marts({"fact_cooperatives": mart}, {}, marts_copy).datasets
    package = ckan.action.package_show(id=published.name)
    for field in (
        "temporal_coverage",
        "spatial_coverage",
        "update_frequency",
        "source_departments",
        "temporal_start",
        "temporal_end",
        "ntm_mart",
        "ntm_content_hash",
    ):
        assert package[field], field
    assert package["ntm_mart"] == "fact_cooperatives" and package["source_departments"] == "so-nnmt-dong-thap"
    assert {r["ntm_kind"] for r in package["resources"]} == {"csv", "xlsx", "parquet", "datapackage"}
    page = _get(f"{ckan.address}/dataset/{published.name}")
    assert "Đơn vị cung cấp số liệu" in page and "Phạm vi thời gian" in page  # the schema's labels
