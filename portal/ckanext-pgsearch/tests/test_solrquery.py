import pytest
from ckanext.pgsearch import solrquery
from ckanext.pgsearch.backend import _project, _sorted

DOC = {
    "id": "1",
    "name": "ha-tang-so",
    "title": "Hạ tầng số Xã Chiềng Xôm",
    "state": "active",
    "capacity": "public",
    "organization": "so-khcn-son-la",
    "tags": ["hạ tầng số", "broadband"],
    "res_format": ["CSV", "Parquet"],
    "permission_labels": ["public"],
    "site_id": "ntm",
    "metadata_modified": "2024-03-01T10:00:00Z",
    "num_resources": 3,
    "_tokens": set(solrquery.tokens("ha-tang-so Hạ tầng số Xã Chiềng Xôm")),
    "_text": "",
}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("*:*", True),
        ("", True),
        ("+capacity:public +state:(active OR draft)", True),
        ("+state:(draft OR deleted)", False),
        ('name:"ha-tang-so" OR id:"ha-tang-so"', True),
        ('organization:"so-khcn-son-la" tags:"broadband"', True),
        ('organization:"so-khcn-son-la" tags:"other"', False),
        ('-organization:"so-khcn-son-la"', False),
        ('+permission_labels:("member-x" OR "public")', True),
        ('res_format:"CSV"', True),
        ("res_format:CS*", True),
        ("xa chieng xom", True),
        ("Chiềng Xôm", True),
        ("chieng son", False),
        ('title:"chieng xom"', True),
        ("metadata_modified:[2024-01-01T00:00:00Z TO NOW]", True),
        ("num_resources:[4 TO *]", False),
        ('+site_id:"ntm" AND (tags:broadband OR tags:nothing)', True),
    ],
)
def test_queries(query, expected):
    assert solrquery.parse(query).test(DOC) is expected


def test_free_text_words_are_collected_for_the_index():
    assert solrquery.parse("xa chieng xom").free_text == ["xa", "chieng", "xom"]
    assert solrquery.parse('name:"x"').free_text == []


def test_syntax_errors_are_reported():
    with pytest.raises(solrquery.QuerySyntaxError):
        solrquery.parse("title:(unclosed")


def test_fold():
    assert solrquery.fold("Đồng Tháp") == "dong thap"


def test_sort_and_projection():
    docs = [
        {"name": "b", "score": 1.0, "title_string": "Bê"},
        {"name": "a", "score": 1.0, "title_string": "An"},
        {"name": "c", "score": 2.0},
    ]
    assert [d["name"] for d in _sorted(docs, "score desc, name asc")] == ["c", "a", "b"]
    assert [d["name"] for d in _sorted(docs, "title_string asc")] == ["a", "b", "c"]  # missing last
    assert _project({"id": 1, "name": "x", "_tokens": set()}, "id name") == {"id": 1, "name": "x"}
