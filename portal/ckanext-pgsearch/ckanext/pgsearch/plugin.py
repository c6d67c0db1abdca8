"""CKAN plugin: route CKAN's search layer to the PostgreSQL-backed index in `backend`.

CKAN creates its Solr connection in `ckan.lib.search.common.make_connection`, imported by name
into the sibling modules, so each of those names is pointed at `PgSolr`. The start-up check of
the Solr schema version has no meaning without Solr and is replaced too.
"""

from __future__ import annotations

import logging

import ckan.plugins as plugins
import ckan.plugins.toolkit as toolkit

from . import backend

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


class PgSearchPlugin(plugins.SingletonPlugin):
    plugins.implements(plugins.IConfigurable)

    def configure(self, config: toolkit.CKANConfig) -> None:
        from ckan import model

        engine = model.meta.engine
        if engine is None:
            engine = __import__("sqlalchemy").create_engine(config["sqlalchemy.url"])
        try:
            backend.ensure_table(engine)
        except Exception as err:  # database not initialised yet (`ckan db init` runs later)
            log.warning("pgsearch: could not create %s yet: %s", backend.TABLE, err)
