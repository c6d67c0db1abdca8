"""A stand-in for the pysolr connection CKAN's search layer uses, backed by a PostgreSQL table.

CKAN talks to Solr through `make_connection()` and calls only `add`, `delete`, `commit` and
`search` on what it returns. This class answers those calls from the table `pgsearch_index`
(one row per indexed document: its jsonb body, a folded search text and a tsvector).
Writes go through CKAN's own SQLAlchemy session, so an index write commits or rolls back
together with the dataset change that caused it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import solrquery

log = logging.getLogger(__name__)

TABLE = "pgsearch_index"

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    site_id     text NOT NULL,
    id          text NOT NULL,
    doc         jsonb NOT NULL,
    search_text text NOT NULL,
    tsv         tsvector NOT NULL,
    PRIMARY KEY (site_id, id)
);
CREATE INDEX IF NOT EXISTS {TABLE}_tsv_idx ON {TABLE} USING gin (tsv);
"""

# Fields that feed free-text search, by weight (Solr's qf is "name^4 title^4 tags^2 groups^2 text").
_WEIGHTED_FIELDS = {
    "A": ("name", "title"),
    "B": ("tags", "groups", "organization"),
}
_TEXT_FIELDS = ("notes", "res_name", "res_description", "author", "maintainer", "url", "version")


def _session():
    from ckan import model

    return model.Session


def ensure_table(engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(DDL))


def _flatten(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, (list, tuple)):
        return [str(v) for v in values if v is not None]
    return [str(values)]


def _weighted_text(doc: dict) -> dict[str, str]:
    parts = {
        weight: " ".join(sum((_flatten(doc.get(f)) for f in fields), [])) for weight, fields in _WEIGHTED_FIELDS.items()
    }
    rest = sum((_flatten(doc.get(f)) for f in _TEXT_FIELDS), [])
    rest += sum((_flatten(v) for k, v in doc.items() if k.startswith("extras_")), [])
    parts["D"] = " ".join(rest)
    return parts


class SearchResults:
    """What pysolr.Results offers that CKAN reads: hits, docs, facets."""

    def __init__(self, docs: list[dict], hits: int, facets: dict[str, list]):
        self.docs = docs
        self.hits = hits
        self.facets = {"facet_fields": facets}

    def __len__(self) -> int:
        return len(self.docs)

    def __iter__(self):
        return iter(self.docs)


class PgSolr:
    """Duck-typed pysolr.Solr."""

    url = "postgresql://(ckan database)/" + TABLE

    def __init__(self, decode_dates: bool = True, **_: Any):
        self.decode_dates = decode_dates

    # ------------------------------------------------------------ writes
    def add(self, docs: Iterable[dict], commit: bool = False, **_: Any) -> None:
        session = _session()
        for doc in docs:
            parts = {w: solrquery.fold(t) for w, t in _weighted_text(doc).items()}
            session.execute(
                sa.text(
                    f"""
                    INSERT INTO {TABLE} (site_id, id, doc, search_text, tsv)
                    VALUES (:site_id, :id, CAST(:doc AS jsonb), :search_text,
                            setweight(to_tsvector('simple', :a), 'A')
                            || setweight(to_tsvector('simple', :b), 'B')
                            || setweight(to_tsvector('simple', :d), 'D'))
                    ON CONFLICT (site_id, id) DO UPDATE
                    SET doc = EXCLUDED.doc, search_text = EXCLUDED.search_text, tsv = EXCLUDED.tsv
                    """
                ),
                {
                    "site_id": str(doc.get("site_id") or ""),
                    "id": str(doc["id"]),
                    "doc": json.dumps(doc, default=str),
                    "search_text": " ".join(parts.values()),
                    "a": parts["A"],
                    "b": parts["B"],
                    "d": parts["D"],
                },
            )

    def delete(self, q: str | None = None, id: str | None = None, commit: bool = False, **_: Any) -> None:
        session = _session()
        if id is not None:
            session.execute(sa.text(f"DELETE FROM {TABLE} WHERE id = :id"), {"id": id})
            return
        node = solrquery.parse(q)
        doomed = [(d["site_id"], d["id"]) for d in self._load_docs() if node.test(d)]
        for site_id, doc_id in doomed:
            session.execute(sa.text(f"DELETE FROM {TABLE} WHERE site_id = :s AND id = :i"), {"s": site_id, "i": doc_id})

    def commit(self, **_: Any) -> None:
        # Index rows live in CKAN's transaction; there is nothing separate to commit.
        return None

    # ------------------------------------------------------------ reads
    def _load_docs(self, free_text: list[str] | None = None) -> list[dict]:
        """Documents, narrowed in SQL by the free-text words (AND), each with its rank."""
        params: dict[str, Any] = {}
        where, rank = "TRUE", "0"
        words = " ".join(solrquery.fold(w) for w in (free_text or []))
        if words.strip():
            where = "tsv @@ plainto_tsquery('simple', :words)"
            rank = "ts_rank(tsv, plainto_tsquery('simple', :words))"
            params["words"] = words
        rows = _session().execute(
            sa.text(f"SELECT doc, search_text, {rank} AS score FROM {TABLE} WHERE {where}"), params
        )
        docs = []
        for doc, search_text, score in rows:
            doc = dict(doc)
            doc["_text"] = search_text
            doc["_tokens"] = set(solrquery.tokens(search_text))
            doc["score"] = float(score)
            docs.append(doc)
        return docs

    def search(self, q: str | None = None, **kw: Any) -> SearchResults:
        # q is what a reader typed: it always reads (solrquery.parse_user_query).
        q_node = solrquery.parse_user_query(q)
        fq = kw.get("fq") or []
        if isinstance(fq, str):
            fq = [fq]
        try:
            fq_nodes = [solrquery.parse(f) for f in fq if f and f.strip()]
        except solrquery.QuerySyntaxError as err:
            # A filter is built by CKAN or an API caller (`/dataset?tags=a"b` gives `tags:"a"b"`): answered
            # as Solr answers one it cannot parse, an error CKAN reports (API 409, a message on the page).
            raise _solr_error(f"pgsearch cannot read the filter: {err}") from None

        # Narrow in SQL only when q is plain free text; with fields, OR may widen it.
        sql_words = q_node.free_text if ":" not in (q or "") else None
        docs = [d for d in self._load_docs(sql_words) if q_node.test(d) and all(n.test(d) for n in fq_nodes)]

        facets = self._facets(docs, kw)
        docs = _sorted(docs, kw.get("sort") or "score desc")
        start, rows = int(kw.get("start", 0) or 0), int(kw.get("rows", 10) if kw.get("rows") is not None else 10)
        page = docs[start : start + rows] if rows >= 0 else docs[start:]
        return SearchResults([_project(d, kw.get("fl")) for d in page], len(docs), facets)

    @staticmethod
    def _facets(docs: list[dict], kw: dict) -> dict[str, list]:
        if str(kw.get("facet", "false")).lower() != "true":
            return {}
        fields = kw.get("facet.field") or []
        if isinstance(fields, str):
            fields = json.loads(fields) if fields.startswith("[") else [fields]
        limit = int(kw.get("facet.limit", 50) or 50)
        mincount = int(kw.get("facet.mincount", 1) or 0)
        out: dict[str, list] = {}
        for field in fields:
            counts: dict[str, int] = {}
            for doc in docs:
                for value in set(_flatten(doc.get(field))):
                    counts[value] = counts.get(value, 0) + 1
            ranked = sorted(((v, c) for v, c in counts.items() if c >= mincount), key=lambda vc: (-vc[1], vc[0]))
            if limit >= 0:
                ranked = ranked[:limit]
            out[field] = [x for vc in ranked for x in vc]
        return out


def _solr_error(message: str) -> Exception:
    """pysolr's SolrError, which CKAN turns into its SearchError; a ValueError where pysolr is not
    installed (the query parser's own tests)."""
    try:
        from pysolr import SolrError
    except ImportError:
        return ValueError(message)
    return SolrError(message)


def _sorted(docs: list[dict], sort: str) -> list[dict]:
    keys = [part.split() for part in sort.split(",") if part.strip()]
    for field_dir in reversed(keys):
        field = field_dir[0]
        descending = len(field_dir) > 1 and field_dir[1].lower() == "desc"
        present = [d for d in docs if d.get(field) not in (None, "")]
        missing = [d for d in docs if d.get(field) in (None, "")]
        present.sort(key=lambda d: _sort_key(d.get(field)), reverse=descending)
        docs = present + missing
    return docs


def _sort_key(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return (1, 0, solrquery.fold(str(value)))


def _project(doc: dict, fl: Any) -> dict:
    fields = fl if isinstance(fl, (list, tuple)) else str(fl or "*").replace(",", " ").split()
    clean = {k: v for k, v in doc.items() if not k.startswith("_")}
    if "*" in fields:
        return clean
    return {f: clean[f] for f in fields if f in clean}
