"""What harvesters read from the portal: DCAT (ckanext-dcat, DCAT-AP 2) for every dataset and the
catalogue, with the licence, period, frequency, languages and the downloadable distributions."""
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
    assert f'dct:title "{package["title"]}"' in turtle and "Chỉ số hạ tầng số cấp xã" in package["title"]
    assert "frequency/ANNUAL" in turtle and "language/VIE" in turtle
    assert 'dcat:startDate "2023-01-01"^^xsd:date' in turtle and 'dcat:endDate "2023-12-31"^^xsd:date' in turtle
    assert "dct:license <http://www.opendefinition.org/licenses/cc-by>" in turtle
    for resource in package["resources"]:  # every file is a distribution with its download URL
        assert resource["url"] in turtle
    assert turtle.count("a dcat:Distribution") == len(package["resources"])
    catalogue = _get(f"{ckan.address}/catalog.ttl")
    assert f"{ckan.address}/dataset/{package['id']}" in catalogue
    assert '"@context"' in _get(f"{ckan.address}/dataset/{published.name}.jsonld")
