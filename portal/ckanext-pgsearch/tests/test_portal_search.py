"""The plugin inside a real CKAN: dataset create/update/delete and search through the API and pages."""

import urllib.error
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


# What a reader may type in the search box: unbalanced quotes and brackets, dangling operators and
# colons, backslashes, Solr's match-all and local parameters, SQL, very long text, any script.
HOSTILE = (
    '"',
    'a"b',
    '""',
    '"' * 101,
    "(",
    ")",
    "a (b",
    "(" * 300 + "x" + ")" * 300,
    ")" * 40,
    "[",
    "{",
    "}",
    "x AND",
    "AND",
    "OR x",
    "NOT",
    "NOT NOT NOT",
    "NOT " * 500 + "x",
    "&& ||",
    "-",
    "+",
    "--",
    "- -",
    "-" * 2000 + "x",
    "!",
    "~",
    "^",
    "?",
    "*",
    ":",
    "*:",
    ":*",
    "*:*",
    "*:*:*",
    '*:*"',
    '"*:*"',
    "* : *",
    "a:b",
    "title:",
    "title:(",
    "title:[a TO",
    "num_resources:[1 TO a]",
    'name:"x',
    'tags:"',
    "{!lucene}x",
    "{!func}sum(1,1)",
    "_query_:x",
    '_val_:"x"',
    "\\",
    "a\\",
    '\\"',
    "\\\\",
    "'; DROP TABLE package; --",
    "1' OR '1'='1",
    "x' || pg_sleep(5) || '",
    "%",
    "_",
    "x" * 5000,
    "a" * 2100,  # beyond PostgreSQL's longest word in a tsquery (2047)
    "hạ tầng số " * 800,
    "🙂 Ｘã　Ａn\u200b Bình",
    "Ꭰ ᚠ 中文 العربية עברית",
    "\u202eabc",
    " ",
)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_any_text_a_reader_types_finds_results_or_nothing_never_an_error(ckan, catalogue):
    import json

    tag, _ = catalogue
    failures = []
    for q in HOSTILE:
        quoted = urllib.parse.quote(q)
        status, body = _get(f"{ckan.address}/api/3/action/package_search?q={quoted}&fq=tags:{tag}")
        if status != 200 or not isinstance(json.loads(body)["result"]["results"], list):
            failures.append(("api", q[:40], status))
        for page in ("/dataset/", "/organization/pgsearch-org-a"):
            status, _ = _get(f"{ckan.address}{page}?q={quoted}")
            if status != 200:
                failures.append((page, q[:40], status))
    assert failures == [], f"{len(failures)} of {3 * len(HOSTILE)} requests failed"


def test_the_words_around_broken_syntax_are_still_found(ckan, catalogue):
    tag, made = catalogue
    for q in ('"chieng xom', "(chieng xom", "chieng AND xom AND", "Chiềng\\", "chieng:xom(", "{!lucene}chieng xom"):
        found = ckan.action.package_search(q=q, fq=f'tags:"{tag}"')
        assert [d["name"] for d in found["results"]] == [made[0]], q
    # Ordinary queries find what they found before.
    assert ckan.action.package_search(q="ha tang so", fq=f'tags:"{tag}"')["count"] == 1
    assert ckan.action.package_search(q="dich vu cong", fq=f'tags:"{tag}"')["count"] == 1


def test_a_filter_solr_could_not_read_is_a_search_error_not_a_crash(ckan, catalogue):
    tag, made = catalogue
    # `/dataset?tags=a"b`: CKAN passes the value unescaped, `tags:"a"b"`, as it would to Solr.
    for params in ("tags=" + urllib.parse.quote('a"b'), "organization=" + urllib.parse.quote("x\\")):
        status, body = _get(f"{ckan.address}/dataset/?{params}")
        assert status == 200, params
    status, body = _get(f"{ckan.address}/api/3/action/package_search?fq=" + urllib.parse.quote('tags:"'))
    assert status == 409 and b"Search Error" in body  # CKAN's answer to a filter Solr cannot parse
