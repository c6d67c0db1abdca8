"""A mart as a DataStore table: typed fields with the data dictionary, a primary key, rows upserted
by key in chunks, rows gone from the mart deleted (in one request per chunk of keys)."""

from __future__ import annotations

from pathlib import Path

import ckanapi
import pyarrow as pa
import pyarrow.parquet as pq

from ntm_core.settings import publish_chunk
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
    return {
        "label": label_vi,
        "notes": notes_vi,
        "label_translated": {"vi": label_vi, "en": label_en},
        "notes_translated": {"vi": notes_vi, "en": notes_en},
    }


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


def load_table(ckan, resource_id: str, parquet: Path, columns: dict[str, dict], primary_key: list[str]) -> None:
    """Create the table if needed, upsert every row by primary key, delete rows no longer in the mart."""
    fields = fields_for(parquet, columns, primary_key)
    had = table_fields(ckan, resource_id)
    if had is not None and [(f["id"], f["type"]) for f in had] != [(f["id"], f["type"]) for f in fields]:
        # The mart's columns changed: rebuild the table rather than leave stale columns behind.
        ckan.action.datastore_delete(resource_id=resource_id, force=True)
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields, primary_key=primary_key)
    chunk, batch, keys_now = publish_chunk(), [], set()
    for row in iter_rows(parquet):
        # Dates as JSON; text neutralised as in the CSV, since the DataStore is downloadable as CSV too.
        row = {k: (v.isoformat() if hasattr(v, "isoformat") else neutralise(v)) for k, v in row.items()}
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
