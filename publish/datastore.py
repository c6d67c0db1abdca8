"""A mart as a DataStore table: typed fields with the data dictionary, a primary key; a new or rebuilt
table loaded by PostgreSQL `COPY` (ckanext-xloader's way), a few changed rows upserted by key, the API
alone when the DataStore database is out of reach (see load_table)."""

from __future__ import annotations

import shutil
from pathlib import Path

import ckanapi
import pyarrow as pa
import pyarrow.parquet as pq

from ntm_core.log import log
from ntm_core.settings import datastore_upsert_max, publish_chunk
from publish.files import iter_rows, neutralise, published_order

DATASTORE_TYPES = {
    pa.string(): "text",
    pa.large_string(): "text",
    pa.int32(): "int4",
    pa.int64(): "int8",
    pa.float64(): "float8",
    pa.float32(): "float8",
    pa.bool_(): "bool",
    pa.date32(): "date",
}
KEY_PAGE = 32000  # DataStore rows read per request when listing the keys already there


KEY_NOTE = ("Thuộc khóa chính của bảng.", "Part of the table's primary key.")


def field_info(doc: dict, name: str, is_key: bool) -> dict:
    """A column's data-dictionary entry: label and description in Vietnamese (what CKAN shows by
    default) and both languages under `*_translated`, which the portal reads for the reader's
    language. A dbt description "Vietnamese / English" is split in two."""
    label_vi, label_en = doc.get("label", name), doc.get("label_en", doc.get("label", name))
    notes = doc.get("notes", "")
    notes_vi, notes_en = notes.split(" / ") if notes.count(" / ") == 1 else (notes, notes)
    if is_key:
        notes_vi, notes_en = f"{notes_vi} {KEY_NOTE[0]}".strip(), f"{notes_en} {KEY_NOTE[1]}".strip()
    info = {
        "label": label_vi,
        "notes": notes_vi,
        "label_translated": {"vi": label_vi, "en": label_en},
        "notes_translated": {"vi": notes_vi, "en": notes_en},
    }
    if doc.get("indicator"):  # declared once in the mart's dbt YAML (meta.indicator)
        info["ntm_indicator"] = doc["indicator"]
    return info


def fields_for(parquet: Path, columns: dict[str, dict], primary_key: list[str] = ()) -> list[dict]:
    """The table's fields: the mart's columns, typed, each with its data-dictionary entry, human
    columns first (files.published_order)."""
    schema = pq.read_schema(parquet)
    return [
        {
            "id": name,
            "type": DATASTORE_TYPES.get(schema.field(name).type, "text"),
            "info": field_info(columns.get(name, {}), name, name in primary_key),
        }
        for name in published_order(schema.names)
    ]


def load_table(
    ckan,
    resource_id: str,
    parquet: Path,
    csv_path: Path,
    columns: dict[str, dict],
    primary_key: list[str],
    database: str | None = None,
    snapshots: Path | None = None,
) -> str:
    """Make the table hold the mart's rows, the cheapest way that is safe, and say which it took:
    - `upsert`: the table exists with the same columns and a snapshot of what was last loaded says
      few rows changed (NTM_DATASTORE_UPSERT_MAX): only those are upserted, the gone ones deleted;
    - `copy`: a new or rebuilt table, or many changes: created through the API (typed fields, data
      dictionary), the published CSV streamed by PostgreSQL `COPY` into the DataStore database
      (`database`), then the full-text column, the indexes and the primary key, as ckanext-xloader does;
    - `api`: the same through `datastore_upsert`, when there is no database to `COPY` into."""
    fields = fields_for(parquet, columns, primary_key)
    had = table_fields(ckan, resource_id)
    same_columns = had is not None and [(f["id"], f["type"]) for f in had] == [(f["id"], f["type"]) for f in fields]
    snapshot = snapshots / f"{resource_id}.parquet" if snapshots else None
    how = None
    if same_columns and primary_key and snapshot and snapshot.exists():
        how = _upsert_changes(ckan, resource_id, fields, parquet, snapshot, primary_key)
    if how is None and database:
        try:
            copy_table(ckan, resource_id, csv_path, fields, primary_key, database, exists=had is not None)
            how = "copy"
        except DatabaseUnreachable as err:
            log(f"publish: the DataStore database is not reachable ({err}); loading {resource_id} through the API")
    if how is None:
        if had is not None and not same_columns:
            # The mart's columns changed: rebuild the table rather than leave stale columns behind.
            ckan.action.datastore_delete(resource_id=resource_id, force=True)
        _load_through_api(ckan, resource_id, fields, parquet, primary_key)
        how = "api"
    if snapshot:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        for old in snapshot.parent.glob(f"{resource_id}.parquet*"):
            old.unlink()
        shutil.copyfile(parquet, snapshot)
    return how


def _published_row(row: dict) -> dict:
    # Dates as JSON; text neutralised as in the CSV, since the DataStore is downloadable as CSV too.
    return {k: (v.isoformat() if hasattr(v, "isoformat") else neutralise(v)) for k, v in row.items()}


def _load_through_api(ckan, resource_id: str, fields: list[dict], parquet: Path, primary_key: list[str]) -> None:
    """Upsert every row by primary key in chunks, then delete the rows no longer in the mart."""
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields, primary_key=primary_key)
    chunk, batch, keys_now = publish_chunk(), [], set()
    for row in iter_rows(parquet):
        row = _published_row(row)
        keys_now.add(tuple(row[k] for k in primary_key))
        batch.append(row)
        if len(batch) >= chunk:
            ckan.action.datastore_upsert(resource_id=resource_id, force=True, method="upsert", records=batch)
            batch = []
    if batch:
        ckan.action.datastore_upsert(resource_id=resource_id, force=True, method="upsert", records=batch)
    gone = [row_id for key, row_id in table_keys(ckan, resource_id, primary_key).items() if key not in keys_now]
    for start in range(0, len(gone), chunk):  # CKAN turns a list of values into one `IN (...)`
        ckan.action.datastore_delete(resource_id=resource_id, force=True, filters={"_id": gone[start : start + chunk]})


def _upsert_changes(
    ckan, resource_id: str, fields: list[dict], parquet: Path, snapshot: Path, primary_key: list[str]
) -> str | None:
    """Upsert the rows that differ from the snapshot of the last load and delete the keys gone; None
    (load it whole) when too many changed or the table no longer holds what the snapshot says."""
    import duckdb

    names = [f["id"] for f in fields]
    if pq.read_schema(snapshot).names != pq.read_schema(parquet).names:
        return None
    cols, keys = ", ".join(f'"{n}"' for n in names), ", ".join(f'"{k}"' for k in primary_key)
    new, old = f"read_parquet('{parquet}')", f"read_parquet('{snapshot}')"
    with duckdb.connect() as con:
        changed = con.execute(f"select count(*) from (select {cols} from {new} except select {cols} from {old})")
        count = changed.fetchone()[0]
        gone_sql = f"select {keys} from {old} except select {keys} from {new}"
        gone = con.execute(f"select count(*) from ({gone_sql})").fetchone()[0]
        if count + gone > datastore_upsert_max():
            return None
        total = ckan.action.datastore_search(resource_id=resource_id, limit=0)["total"]
        if total != pq.read_metadata(snapshot).num_rows:
            return None  # changed behind our back: load it whole
        found = con.execute(f"select {cols} from {new} except select {cols} from {old}")
        rows = [dict(zip(names, r)) for r in found.fetchall()]
        gone_keys = con.execute(gone_sql).fetchall()
    # The data dictionary may have changed even when the columns did not.
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields, primary_key=primary_key)
    chunk = publish_chunk()
    for start in range(0, len(rows), chunk):
        batch = [_published_row(r) for r in rows[start : start + chunk]]
        ckan.action.datastore_upsert(resource_id=resource_id, force=True, method="upsert", records=batch)
    for key in gone_keys:
        filters = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in zip(primary_key, key)}
        ckan.action.datastore_delete(resource_id=resource_id, force=True, filters=filters)
    log(f"publish: {resource_id}: {len(rows)} rows upserted, {len(gone_keys)} deleted")
    return "upsert"


class DatabaseUnreachable(RuntimeError):
    pass


def copy_table(
    ckan,
    resource_id: str,
    csv_path: Path,
    fields: list[dict],
    primary_key: list[str],
    database: str,
    exists: bool,
) -> None:
    """Load the table as ckanext-xloader does: the table created empty through the API (typed fields,
    data dictionary, no key), its secondary indexes dropped, the published CSV streamed in by `COPY`
    with the full-text trigger off, the full-text column filled in one `UPDATE`, then the primary key
    and the indexes built by a second `datastore_create`."""
    import psycopg
    from psycopg import sql

    try:
        connection = psycopg.connect(database, connect_timeout=10)
    except psycopg.OperationalError as err:
        raise DatabaseUnreachable(type(err).__name__) from None  # the message may hold the URL
    if exists:
        ckan.action.datastore_delete(resource_id=resource_id, force=True)
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields)
    table = sql.Identifier(resource_id)
    column_list = sql.SQL(", ").join(sql.Identifier(f["id"]) for f in fields)
    with connection, connection.cursor() as cur:
        for (index,) in cur.execute(
            "select indexname from pg_indexes where tablename = %s and indexname <> %s",
            (resource_id, f"{resource_id}_pkey"),
        ).fetchall():
            cur.execute(sql.SQL("drop index {}").format(sql.Identifier(index)))
        cur.execute(sql.SQL("alter table {} disable trigger zfulltext").format(table))
        copy_sql = sql.SQL("copy {} ({}) from stdin with (format csv, header true, encoding 'UTF8')")
        # The header line (with the BOM Excel needs) is skipped; the rest streams in 1 MB blocks.
        with cur.copy(copy_sql.format(table, column_list)) as copy, open(csv_path, "rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        words = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(f["id"])) for f in fields)
        cur.execute(sql.SQL("update {} set _full_text = to_tsvector(concat_ws(' ', {}))").format(table, words))
        cur.execute(sql.SQL("alter table {} enable trigger zfulltext").format(table))
    connection.close()
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields, primary_key=primary_key)
    with psycopg.connect(database, autocommit=True) as analyse:
        analyse.execute(sql.SQL("analyze {}").format(table))  # the planner's row counts, as xloader does


def table_fields(ckan, resource_id: str) -> list[dict] | None:
    """The table's fields as the DataStore has them: id, type and data-dictionary entry."""
    try:
        info = ckan.action.datastore_info(id=resource_id)
    except ckanapi.NotFound:
        return None
    return [{"id": f["id"], "type": f["type"], "info": f.get("info") or {}} for f in info["fields"] if f["id"] != "_id"]


def table_keys(ckan, resource_id: str, primary_key: list[str]) -> dict[tuple, int]:
    """The primary key of every row in the table, with its DataStore row id."""
    keys, offset = {}, 0
    while True:
        page = ckan.action.datastore_search(
            resource_id=resource_id, fields=["_id", *primary_key], limit=KEY_PAGE, offset=offset
        )
        keys.update((tuple(r[k] for k in primary_key), r["_id"]) for r in page["records"])
        if len(page["records"]) < KEY_PAGE:
            return keys
        offset += KEY_PAGE


def table_matches(
    ckan, package: dict, parquet: Path, rows: int, columns: dict[str, dict], primary_key: list[str]
) -> bool:
    """The portal's table has the mart's columns, data dictionary and row count (an interrupted
    publish has not; a changed column description is written again)."""
    csv_res = next((r for r in package.get("resources", []) if r.get("ntm_kind") == "csv"), None)
    if csv_res is None:
        return False
    if table_fields(ckan, csv_res["id"]) != fields_for(parquet, columns, primary_key):
        return False
    return ckan.action.datastore_search(resource_id=csv_res["id"], limit=0)["total"] == rows
