"""Great Expectations on DuckDB: the marts are validated where they lie, as Parquet read by DuckDB.

GE 1.x's SQL engine closes its connection before it reads query results, which DuckDB does not
allow (every metric fails with `list index out of range`). GE keeps one persisted connection for
the dialects listed in `_PERSISTED_CONNECTION_DIALECTS` (SQLite, SQL Server, ...); adding DuckDB
there is the whole fix. DuckDB then does the scanning with a memory limit, so a 10-million-row
table is validated in bounded memory instead of being loaded into pandas.
"""

from __future__ import annotations

import enum
import os

from ntm_core.settings import duckdb_memory, quiet_great_expectations


class _DuckDBDialect(str, enum.Enum):  # noqa: UP042 - GE compares it as a plain str
    # GE compares both `.value` (to the connection string) and the dialect name (a plain str).
    DUCKDB = "duckdb"


def _persist_duckdb_connections() -> None:
    import great_expectations.execution_engine.sqlalchemy_execution_engine as engine

    if _DuckDBDialect.DUCKDB not in engine._PERSISTED_CONNECTION_DIALECTS:
        engine._PERSISTED_CONNECTION_DIALECTS = (*engine._PERSISTED_CONNECTION_DIALECTS, _DuckDBDialect.DUCKDB)


def parquet_sql(path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def context_with_duckdb(name: str = "marts"):
    """An ephemeral GE context and a SQL datasource on an in-memory DuckDB with a memory limit."""
    quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _persist_duckdb_connections()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_sql(
        name,
        connection_string="duckdb:///:memory:",
        kwargs={"connect_args": {"config": {"memory_limit": duckdb_memory(), "threads": os.cpu_count() or 1}}},
    )
    return context, datasource
