"""A Frictionless `datapackage.json` per dataset, so catalogues and tools (frictionless, pandas,
R's datapackage) can read the data with its schema: fields with types, labels and descriptions
from the dbt docs, the primary key, the licence and the source departments."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from publish.files import published_order


def _field_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "datetime"
    return "string"


def _table_schema(parquet: Path, columns: dict[str, dict], primary_key: list[str]) -> dict:
    """The Table Schema of the published CSV: its fields (in the CSV's order) with their title and
    description, and its key."""
    schema = pq.read_schema(parquet)
    return {
        "fields": [
            {
                "name": name,
                "type": _field_type(schema.field(name).type),
                "title": columns.get(name, {}).get("label", name),
                "description": columns.get(name, {}).get("notes", ""),
            }
            for name in published_order(schema.names)
        ],
        "primaryKey": primary_key,
        "missingValues": [""],
    }


LICENCE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}


def write_datapackage(
    target: Path,
    *,
    name: str,
    title: str,
    description: str,
    version: str,
    parquet: Path,
    columns: dict[str, dict],
    primary_key: list[str],
    csv_url: str,
    parquet_url: str,
    departments: list[str],
    dataset_url: str,
) -> Path:
    schema = _table_schema(parquet, columns, primary_key)
    package = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "description": description,
        "version": version,
        "homepage": dataset_url,
        "licenses": [LICENCE],
        "sources": [{"title": d} for d in departments],
        "resources": [
            {
                "name": "data-csv",
                "path": csv_url,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8-sig",
                "schema": schema,
            },
            {
                "name": "data-parquet",
                "path": parquet_url,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "schema": schema,
            },
        ],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(package, ensure_ascii=False, indent=2), encoding="utf-8")
    return target
