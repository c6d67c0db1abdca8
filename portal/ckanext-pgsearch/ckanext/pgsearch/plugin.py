"""CKAN plugin: route CKAN's search layer to the PostgreSQL-backed index in `backend`.

CKAN creates its Solr connection in `ckan.lib.search.common.make_connection`, imported by name
into the sibling modules, so each of those names is pointed at `PgSolr`. The start-up check of
the Solr schema version has no meaning without Solr and is replaced too. A reader's `q` that CKAN
would refuse as Solr-only syntax (local parameters, magic fields) is searched for its words.
"""

from __future__ import annotations

import logging
import re

import ckan.plugins as plugins
import ckan.plugins.toolkit as toolkit

from . import backend, solrquery

log = logging.getLogger(__name__)


def make_connection(decode_dates: bool = True) -> backend.PgSolr:
    return backend.PgSolr(decode_dates=decode_dates)


def _route_search_to_postgres() -> None:
    import ckan.lib.search as search
    import ckan.lib.search.common as common
    import ckan.lib.search.index as index
    import ckan.lib.search.query as query

    for module in (search, common, index, query):
        module.make_connection = make_connection
    search.check_solr_schema_version = lambda schema_file=None: True


# At import, before CKAN's environment runs its Solr schema check.
_route_search_to_postgres()


_LOCAL_PARAMS = re.compile(r"\{![^}]*\}?")


def _plain(q: str) -> str | None:
    """`q` without what CKAN would refuse before any search as Solr syntax this index has no use for
    (local parameters `{!…}`, the magic fields `_query_:`, `_val_:`), as its remaining words; None
    when it holds none of those."""
    from ckan.lib.search.query import MAGIC_FIELD_RE, QUERY_PARSER_RE

    if not (MAGIC_FIELD_RE.search(q) or QUERY_PARSER_RE.search(q.strip())):
        return None
    return " ".join(solrquery.words(MAGIC_FIELD_RE.sub(" ", _LOCAL_PARAMS.sub(" ", q))))


class PgSearchPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IConfigurable)
    plugins.implements(plugins.IPackageController, inherit=True)

    def before_dataset_search(self, search_params: dict) -> dict:
        """A reader's `q` holding Solr's local parameters or magic fields is searched for its words:
        CKAN refuses those (a search error) to protect Solr, and this index would ignore them."""
        q = search_params.get("q")
        if isinstance(q, str) and (plain := _plain(q)) is not None:
            search_params["q"] = plain
        return search_params

    def configure(self, config: toolkit.CKANConfig) -> None:
        from ckan import model

        engine = model.meta.engine
        if engine is None:
            engine = __import__("sqlalchemy").create_engine(config["sqlalchemy.url"])
        try:
            backend.ensure_table(engine)
        except Exception as err:  # database not initialised yet (`ckan db init` runs later)
            log.warning("pgsearch: could not create %s yet: %s", backend.TABLE, err)
