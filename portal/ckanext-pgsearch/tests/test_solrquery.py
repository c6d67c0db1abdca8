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


# What readers type that is no valid Solr query: each reads as its words (every one required).
@pytest.mark.parametrize(
    "query, words",
    [
        ('"', []),
        ('a"b', ["a", "b"]),
        ("(", []),
        ("x AND", ["x"]),
        ("NOT", []),
        ("- -", []),
        ("a\\", ["a"]),
        ("title:(", ["title"]),
        ('name:"x', ["name", "x"]),
        ("*:", []),
        ('"chiềng xôm', ["chiềng", "xôm"]),
        ("(" * 500 + "xom" + ")" * 500, ["xom"]),  # nested beyond any sense
        ("NOT " * 1000 + "xom", ["xom"]),
        ("-" * 3000 + "xom", ["xom"]),
    ],
)
def test_a_reader_query_that_is_no_solr_query_reads_as_its_words(query, words):
    with pytest.raises(solrquery.QuerySyntaxError):
        solrquery.parse(query)
    node = solrquery.parse_user_query(query)
    assert node.free_text == words
    assert node.test(DOC) is all(w in DOC["_tokens"] for w in solrquery.tokens(" ".join(words)))


def test_a_valid_query_reads_as_before():
    assert solrquery.parse_user_query("xa chieng xom").free_text == ["xa", "chieng", "xom"]
    assert solrquery.parse_user_query("+state:(draft OR deleted)").test(DOC) is False
    assert solrquery.parse_user_query('"chieng xom"').test(DOC) is True


def test_a_range_with_a_number_and_a_word_compares_text():
    assert solrquery.parse("num_resources:[1 TO a]").test(DOC) is True  # "3" is between "1" and "a"


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
