"""The plugin inside a real CKAN: dataset create/update/delete and search through the API and pages."""

import urllib.parse
import urllib.request
import uuid

import ckanapi
import pytest

pytestmark = pytest.mark.portal


@pytest.fixture
def catalogue(ckan):
    tag = "t" + uuid.uuid4().hex[:8]
    orgs = []
    for org in ("pgsearch-org-a", "pgsearch-org-b"):
        try:
            ckan.action.organization_show(id=org)
        except ckanapi.NotFound:
            ckan.action.organization_create(name=org, title=org)
        orgs.append(org)
    made = []
    specs = [
        ("Chỉ số hạ tầng số Xã Chiềng Xôm", orgs[0], ["hạ tầng số", tag], "CSV", False),
        ("Dịch vụ công trực tuyến Đồng Tháp", orgs[1], ["dịch vụ công", tag], "Parquet", False),
        ("Hồ sơ một cửa (riêng tư)", orgs[1], [tag], "CSV", True),
    ]
    for i, (title, org, tags, fmt, private) in enumerate(specs):
        pkg = ckan.action.package_create(
            name=f"{tag}-{i}",
            title=title,
            owner_org=org,
            private=private,
            license_id="cc-by",
            tags=[{"name": t} for t in tags],
            resources=[{"url": "http://example.invalid/x", "format": fmt}],
        )
        made.append(pkg["name"])
    yield tag, made
    for name in made:
        ckan.action.dataset_purge(id=name)


def _anonymous(ckan):
    return ckanapi.RemoteCKAN(ckan.address)


def test_search_with_and_without_diacritics(ckan, catalogue):
    tag, made = catalogue
    for q in ("Chiềng Xôm", "xa chieng xom", "CHIENG XOM"):
        found = ckan.action.package_search(q=q, fq=f'tags:"{tag}"')
        assert [d["name"] for d in found["results"]] == [made[0]], q


def test_facets_filters_and_visibility(ckan, catalogue):
    tag, made = catalogue
    public = _anonymous(ckan).action.package_search(
        fq=f'tags:"{tag}"', **{"facet.field": ["organization", "res_format", "license_id"]}
    )
    assert public["count"] == 2  # the private dataset is hidden from the public
    assert public["facets"]["organization"] == {"pgsearch-org-a": 1, "pgsearch-org-b": 1}
    assert public["facets"]["res_format"] == {"CSV": 1, "Parquet": 1}
    admin = ckan.action.package_search(fq=f'tags:"{tag}"', include_private=True)
    assert admin["count"] == 3
    by_format = ckan.action.package_search(fq=f'tags:"{tag}" res_format:"Parquet"')
    assert [d["name"] for d in by_format["results"]] == [made[1]]
    page = ckan.action.package_search(fq=f'tags:"{tag}"', include_private=True, sort="name desc", rows=2, start=1)
    assert page["count"] == 3 and [d["name"] for d in page["results"]] == [made[1], made[0]]


def test_update_and_delete_reach_the_index(ckan, catalogue):
    tag, made = catalogue
    ckan.action.package_patch(id=made[1], title="Dịch vụ công Sơn La")
    assert ckan.action.package_search(q="son la", fq=f'tags:"{tag}"')["count"] == 1
    ckan.action.package_delete(id=made[0])
    assert ckan.action.package_search(q="chieng xom", fq=f'tags:"{tag}"')["count"] == 0


def test_failed_create_leaves_no_index_entry(ckan, catalogue):
    tag, _ = catalogue
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_create(
            name=f"{tag}-bad",
            title="Không hợp lệ",
            owner_org="pgsearch-org-a",
            tags=[{"name": tag}],
            resources=[{"url": "x", "format": "CSV"}],
            license_id="cc-by",
            extras=[{"key": "a", "value": "1"}, {"key": "a", "value": "2"}],
        )
    assert ckan.action.package_search(fq=f'tags:"{tag}"', include_private=True)["count"] == 3


def test_pages_list_and_search(ckan, catalogue):
    tag, made = catalogue
    for path in (
        "/dataset?q=" + urllib.parse.quote("xa chieng xom"),
        f"/dataset/?tags={tag}",
        "/organization/pgsearch-org-a",
        f"/dataset/{made[0]}",
    ):
        with urllib.request.urlopen(ckan.address + path) as resp:
            body = resp.read().decode()
        assert resp.status == 200
        assert made[0] in body, path
