"""The lake as open tables: bronze, the records lake and the marts written as Apache Iceberg tables.

Any Iceberg reader (Spark, Trino, DuckDB's iceberg extension, pyiceberg) can then read the lakehouse
without knowing its folder layout. The catalog is pyiceberg's SQL catalog: a SQLite file in the data
dir, or the PostgreSQL (any SQLAlchemy URL) of `NTM_ICEBERG_CATALOG_URI`. The Parquet files stay the
pipeline's own; these tables are written from them, and each write replaces a table's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError, ResolveError, ValidationError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from ntm.transform import LAKE_TABLES
from ntm_core.departments import departments
from ntm_core.log import log
from ntm_core.settings import duckdb_memory, iceberg_catalog_uri, iceberg_warehouse

NAMESPACES = ("bronze", "lake", "marts")
# How tables are partitioned, as data. A namespace's rule: of each group of columns, the first the
# table has becomes an identity partition field (a table with none of a group gets no field for it).
NAMESPACE_PARTITIONS = {
    "bronze": (("_province",), ("period", "year")),
    "lake": (("_province",), ("period",)),
    "marts": (("province_code",), ("period", "year")),
}
# Tables partitioned otherwise than their namespace's rule: table -> ((source column, transform), ...).
TABLE_PARTITIONS = {
    # Raw records have no period column; a month(received_date) field would need pyiceberg-core, which
    # is not installed: by province only (the records lake, lake.public_service_records, has the period).
    "bronze.public_service_records": (("_province", "identity"),),
    "marts.dim_admin_unit": (("province_key", "identity"), ("list_version", "identity")),
}
# Bronze and the records lake have no province column: `_province` is added from the department
# registry (a department submits for its own province only), through this column.
PROVINCE_FROM = {"bronze": "_department", "lake": "department"}
# DuckDB types Iceberg has no type for, cast on the way (TIMESTAMP WITH TIME ZONE is kept: timestamptz).
ICEBERG_CASTS = {
    "NULL": "VARCHAR",
    "UUID": "VARCHAR",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
    "HUGEINT": "DECIMAL(38, 0)",
    "UBIGINT": "DECIMAL(20, 0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "INTEGER",
}
# Rows go to the Iceberg writer in chunks of about this many bytes (in Arrow): memory stays bounded on
# a large table (3 M records, 1 GB in Arrow, are written in 0.8 GB of memory; the writer holds about
# 3 chunks at once). They are not sorted first (sorting 3 M records took 0.6 GB more): the sources come
# clustered already (a bronze file is one department's, a lake file one period's), so a chunk spans
# few partitions, and a partition gets one file per chunk it appears in.
CHUNK_BYTES = 64 * 1024 * 1024
BATCH_ROWS = 65_536  # rows per batch read from DuckDB


@dataclass
class LakeTable:
    identifier: str  # namespace.table
    rows: int
    partition_by: list[str]  # the partition fields, e.g. ["province_code", "year"]
    data_files: int


def lake_catalog(data_dir: Path, catalog_uri: str | None = None) -> Catalog:
    """The SQL catalog of the data dir's Iceberg tables (created on first use)."""
    uri = catalog_uri or iceberg_catalog_uri(data_dir)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    warehouse = iceberg_warehouse(data_dir)
    if warehouse.startswith("file://"):
        Path(unquote(urlparse(warehouse).path)).mkdir(parents=True, exist_ok=True)
    return SqlCatalog("ntm", uri=uri, warehouse=warehouse)


def lake_sources(data_dir: Path) -> dict[str, str]:
    """Each table to write -> the DuckDB query over the data dir's Parquet that holds its rows."""
    sources = {}
    for folder in sorted(p for p in (data_dir / "bronze").glob("*") if any(p.glob("*.parquet"))):
        sources[f"bronze.{folder.name}"] = f"read_parquet('{folder}/*.parquet', union_by_name = true)"
    for folder, (_, column) in LAKE_TABLES.items():
        lake = data_dir / "lake" / folder
        if any(lake.glob("*/*.parquet")):
            sources[f"lake.{folder}"] = (
                f"read_parquet('{lake}/*/*.parquet', hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{'{column}': 'VARCHAR'}})"
            )
    for mart in sorted((data_dir / "marts").glob("*.parquet")):
        sources[f"marts.{mart.stem}"] = f"read_parquet('{mart}')"
    return sources


def write_lake_tables(data_dir: Path, catalog_uri: str | None = None) -> list[LakeTable]:
    """Write every bronze dataset, the records lake and every mart as an Iceberg table, replacing each
    table's rows (a second call leaves the same rows), and drop the tables whose Parquet is gone."""
    catalog = lake_catalog(data_dir, catalog_uri)
    for namespace in NAMESPACES:
        catalog.create_namespace_if_not_exists(namespace)
    sources = lake_sources(data_dir)
    written = []
    with _duckdb(data_dir) as con:
        for identifier, source in sources.items():
            written.append(write_table(catalog, con, identifier, source))
    for namespace in NAMESPACES:
        for stale in {".".join(t) for t in catalog.list_tables(namespace)} - set(sources):
            catalog.purge_table(stale)
            log(f"iceberg: dropped {stale} (its Parquet is gone)")
    return written


def _duckdb(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB in bounded memory (spilling to the data dir's scratch) that hands out timestamps with
    time zone in UTC (Iceberg's timestamptz is UTC), with the department registry as a table."""
    con = duckdb.connect()
    (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    con.execute(f"set memory_limit = '{duckdb_memory()}'")
    con.execute(f"set temp_directory = '{data_dir / 'tmp' / 'iceberg'}'")
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    registry = {name: (entry or {}).get("province") for name, entry in departments().items()}
    schema = pa.schema([("department", pa.string()), ("province", pa.string())])
    con.register("_registry", pa.table([list(registry), list(registry.values())], schema=schema))
    return con


def write_table(catalog: Catalog, con: duckdb.DuckDBPyConnection, identifier: str, source: str) -> LakeTable:
    """Replace one table's rows with the rows of `source`, in one commit: a reader sees the old rows
    or the new ones."""
    relation = _iceberg_typed(con.sql(_with_province(con, source, PROVINCE_FROM.get(identifier.split(".")[0]))))
    partitions = partition_fields(identifier, relation.columns)
    schema = relation.limit(0).to_arrow_table().schema
    table = _table_for(catalog, identifier, schema, partitions)
    rows = _replace_rows(table, _chunks(relation.to_arrow_reader(BATCH_ROWS), CHUNK_BYTES))
    files = _data_files(table.refresh())
    log(f"iceberg: {identifier}: {rows} rows in {files} files, by {', '.join(_field_names(partitions)) or 'nothing'}")
    return LakeTable(identifier, rows, _field_names(partitions), files)


def _with_province(con: duckdb.DuckDBPyConnection, source: str, department_column: str | None) -> str:
    """The query of the source's rows, with `_province` (the department's province, from the registry)
    where the table has the department column."""
    if not department_column or department_column not in con.sql(f"select * from {source}").columns:
        return f"select * from {source}"
    return (
        f"select s.*, r.province as _province from {source} s "
        f'left join _registry r on r.department = s."{department_column}"'
    )


def _iceberg_typed(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Cast the columns of a type Iceberg lacks (ICEBERG_CASTS); the others go as they are."""
    casts = {c: ICEBERG_CASTS[str(t)] for c, t in zip(relation.columns, relation.types) if str(t) in ICEBERG_CASTS}
    if not casts:
        return relation
    return relation.project(
        ", ".join(f'cast("{c}" as {casts[c]}) as "{c}"' if c in casts else f'"{c}"' for c in relation.columns)
    )


def partition_fields(identifier: str, columns: list[str]) -> tuple[tuple[str, str], ...]:
    """The table's declared partitioning, ((source column, transform), ...), from TABLE_PARTITIONS or
    its namespace's rule."""
    if identifier in TABLE_PARTITIONS:
        return tuple((c, t) for c, t in TABLE_PARTITIONS[identifier] if c in columns)
    groups = NAMESPACE_PARTITIONS.get(identifier.split(".")[0], ())
    firsts = (next((c for c in group if c in columns), None) for group in groups)
    return tuple((c, "identity") for c in firsts if c)


def _field_names(partitions) -> list[str]:
    """Iceberg's names of partition fields: the column for identity, else `<column>_<transform>`."""
    return [column if transform == "identity" else f"{column}_{transform}" for column, transform in partitions]


def _table_for(catalog: Catalog, identifier: str, schema: pa.Schema, partitions) -> Table:
    """The table, made to fit: created with the schema and partitioning; a new column added (and a
    dropped one removed) by evolving its schema; recreated when its partitioning changed or its
    columns' types cannot evolve. Its rows are replaced anyway, so recreating loses only history."""
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        return _create(catalog, identifier, schema, partitions)
    if _spec_of(table) != list(zip(_field_names(partitions), (t for _, t in partitions))):
        log(f"iceberg: {identifier}: partitioning changed; recreating the table")
        catalog.purge_table(identifier)
        return _create(catalog, identifier, schema, partitions)
    current = {f.name for f in table.schema().fields}
    if current == set(schema.names) and _types_fit(table, schema):
        return table
    try:
        with table.update_schema() as update:
            update.union_by_name(schema)
            for gone in current - set(schema.names):
                update.delete_column(gone)
        log(f"iceberg: {identifier}: schema evolved")
        return table
    except (ValueError, TypeError, ValidationError, ResolveError) as e:
        log(f"iceberg: {identifier}: schema cannot evolve ({e}); recreating the table")
        catalog.purge_table(identifier)
        return _create(catalog, identifier, schema, partitions)


def _types_fit(table: Table, schema: pa.Schema) -> bool:
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

    try:
        _check_pyarrow_schema_compatible(table.schema(), schema, format_version=table.format_version)
        return True
    except ValueError:
        return False


def _create(catalog: Catalog, identifier: str, schema: pa.Schema, partitions) -> Table:
    """Create the table with the schema and its partition fields, in one commit."""
    with catalog.create_table_transaction(identifier, schema=schema) as tx:
        if partitions:
            with tx.update_spec() as spec:
                for column, transform in partitions:
                    spec.add_field(column, transform, _field_names([(column, transform)])[0])
    return catalog.load_table(identifier)


def _spec_of(table: Table) -> list[tuple[str, str]]:
    return [(f.name, str(f.transform)) for f in table.spec().fields]


def _chunks(reader: pa.RecordBatchReader, max_bytes: int) -> Iterator[pa.Table]:
    """The reader's batches gathered into tables of about `max_bytes`."""
    pending, size = [], 0
    for batch in reader:
        pending.append(batch)
        size += batch.nbytes
        if size >= max_bytes:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _replace_rows(table: Table, chunks: Iterable[pa.Table]) -> int:
    """One transaction: drop every current data file, then append the chunks' rows as one snapshot
    (pyiceberg's own append takes one whole Arrow table for a partitioned table, so its file writer is
    called per chunk, as `Transaction.append` does)."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    rows, counter = 0, itertools.count(0)
    with table.transaction() as tx:
        if _data_files(table):
            tx.delete(AlwaysTrue())  # whole files: no data file is rewritten
        with tx.update_snapshot().fast_append() as append:
            for chunk in chunks:
                rows += chunk.num_rows
                for data_file in _dataframe_to_data_files(
                    tx.table_metadata, chunk, table.io, write_uuid=append.commit_uuid, counter=counter
                ):
                    append.append_data_file(data_file)
    return rows


def _data_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary.get("total-data-files") or 0) if snapshot and snapshot.summary else 0


def read_table(
    data_dir: Path,
    identifier: str,
    catalog_uri: str | None = None,
    row_filter: str | BooleanExpression = AlwaysTrue(),
    selected_fields: tuple[str, ...] = ("*",),
) -> pa.Table:
    """A table's current rows through the catalog, e.g. `read_table(d, "marts.fact_x", row_filter=
    "province_code = '87'")`; a filter on a partition column reads only that partition's files."""
    table = lake_catalog(data_dir, catalog_uri).load_table(identifier)
    return table.scan(row_filter=row_filter, selected_fields=selected_fields).to_arrow()


def duckdb_relation(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    identifier: str,
    catalog_uri: str | None = None,
    row_filter: str | BooleanExpression = AlwaysTrue(),
) -> duckdb.DuckDBPyRelation:
    """A table as a DuckDB relation, read by pyiceberg into Arrow (DuckDB's iceberg extension cannot
    be downloaded here); `.create_view(name)` makes it queryable by name."""
    return con.from_arrow(read_table(data_dir, identifier, catalog_uri, row_filter))
