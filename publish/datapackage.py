"""A Frictionless `datapackage.json` per dataset, so catalogues and tools (frictionless, pandas,
R's datapackage) can read the data with its schema: fields with types, labels and descriptions
from the dbt docs, the primary key and foreign keys, the licence and the source departments.

It is valid for `frictionless validate` against the files as published: the CSV and the Parquet
file are each described with their own schema, in their own column order (the CSV's is
`files.published_order`, the Parquet file keeps the mart's), and the datasets a foreign key points
to are in the package too, as the CSV their own data package describes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import ckanapi
import pyarrow as pa
import pyarrow.parquet as pq
import requests

from ntm_core.log import log
from publish.files import published_order


def field_type(arrow_type: pa.DataType) -> str:
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


# How a Parquet reader that goes through pandas (frictionless does) shows a null: as NaN in an
# integer column, NaT in a timestamp one. Declared missing on those fields only, where no value can
# be written so: the file itself holds nulls.
_PANDAS_MISSING = {"integer": ["", "nan"], "datetime": ["", "NaT"]}


@dataclass(frozen=True)
class ForeignKey:
    """A column of the mart whose values are keys of another published mart (or of its own)."""

    column: str
    mart: str
    field: str


def _schema(
    arrow: pa.Schema,
    names: list[str],
    columns: dict[str, dict],
    primary_key: list[str],
    foreign_keys: list[dict],
    parquet: bool = False,
) -> dict:
    fields = []
    for name in names:
        field = {
            "name": name,
            "type": field_type(arrow.field(name).type),
            "title": columns.get(name, {}).get("label", name),
            "description": columns.get(name, {}).get("notes", ""),
        }
        if parquet and field["type"] in _PANDAS_MISSING:
            field["missingValues"] = _PANDAS_MISSING[field["type"]]
        fields.append(field)
    schema = {"fields": fields, "primaryKey": primary_key, "missingValues": [""]}
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return schema


def relationships(mart: str, manifest: dict) -> list[ForeignKey]:
    """The mart's dbt `relationships` tests that fail the build on any exception (severity error,
    `error_if` left at `!= 0`, on every row: no `where`), as foreign keys; the others allow
    exceptions, which a foreign key cannot."""
    found = set()
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        config = node.get("config") or {}
        if (
            node["resource_type"] != "test"
            or meta.get("name") != "relationships"
            or str(config.get("severity", "error")).lower() != "error"
            or str(config.get("error_if", "!= 0")).replace(" ", "") != "!=0"
            or config.get("where")
        ):
            continue
        if node.get("attached_node") != f"model.{node['package_name']}.{mart}":
            continue
        kwargs = meta.get("kwargs", {})
        target = re.fullmatch(r"\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*", kwargs.get("to", ""))
        if target and kwargs.get("field") and (column := node.get("column_name") or kwargs.get("column_name")):
            found.add(ForeignKey(column, target.group(1), kwargs["field"]))
    return sorted(found, key=lambda k: (k.column, k.mart, k.field))


def mart_relationships(mart: str, data_dir: Path) -> list[ForeignKey]:
    """`relationships` of the mart in the data dir's dbt manifest."""
    manifest = json.loads((data_dir / "dbt_target" / "manifest.json").read_text(encoding="utf-8"))
    return relationships(mart, manifest)


def referenced_marts(model_yaml: Path) -> list[str]:
    """The models a mart's dbt YAML refers to (`ref('dim_admin_unit')`): whose published schema its
    data package copies, so whose YAML is among the rules it is published by."""
    text = model_yaml.read_text(encoding="utf-8") if model_yaml.exists() else ""
    return sorted(set(re.findall(r"ref\(\s*['\"](\w+)['\"]\s*\)", text)))


def published_references(ckan, mart: str, relations: list[ForeignKey], names: dict[str, str]) -> dict[str, dict]:
    """Each other mart a foreign key points to, as the resource its public dataset's data package
    describes (`referenced_resource`), the dataset's name (`names`: mart -> dataset) as its name. A
    mart that is not published (a seed), or not public on the portal yet, is left out, saying so."""
    found = {}
    for target in sorted({k.mart for k in relations if k.mart != mart}):
        if target not in names:
            continue
        try:
            package = ckan.action.package_show(id=names[target])
        except ckanapi.NotFound:
            package = {"private": True}
        described = next((r for r in package.get("resources", []) if r.get("ntm_kind") == "datapackage"), None)
        if package.get("private") or described is None:
            log(f"publish: {names[target]} is not public yet: the foreign keys of {mart} to it are left out")
            continue
        session = getattr(ckan, "session", None) or requests.Session()
        answer = session.get(described["url"], timeout=60)
        answer.raise_for_status()
        if resource := referenced_resource(answer.json(), names[target]):
            found[target] = resource
    return found


def referenced_resource(package: dict, name: str) -> dict | None:
    """The CSV resource of another dataset's published data package, under `name`, as a resource a
    foreign key of this package can point to (its own foreign keys left out: their targets are not
    in this package)."""
    csv = next((r for r in package.get("resources", []) if r.get("name") == "data-csv"), None)
    if csv is None or "schema" not in csv:
        return None
    schema = {k: v for k, v in csv["schema"].items() if k != "foreignKeys"}
    return {**csv, "name": name, "title": package.get("title", name), "schema": schema}


LICENCE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}


def _foreign_keys(mart: str, relations: list[ForeignKey], references: dict[str, dict]) -> list[dict]:
    """Table Schema foreign keys: to the table itself (resource ""), or to a referenced dataset's
    resource; one whose dataset is not in `references` is left out."""
    keys = []
    for key in relations:
        if key.mart == mart:
            resource = ""
        elif key.mart in references:
            resource = references[key.mart]["name"]
        else:
            continue
        keys.append({"fields": [key.column], "reference": {"resource": resource, "fields": [key.field]}})
    return keys


def descriptor(
    *,
    mart: str,
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
    relations: list[ForeignKey] = (),
    references: dict[str, dict] | None = None,
) -> dict:
    """The data package of a dataset: its CSV, its Parquet file, and for each other mart a foreign
    key points to, that mart's resource (`references`, mart -> `referenced_resource`)."""
    references = references or {}
    arrow = pq.read_schema(parquet)
    keys = _foreign_keys(mart, relations, references)
    return {
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
                "schema": _schema(arrow, published_order(arrow.names), columns, primary_key, keys),
            },
            {
                "name": "data-parquet",
                "path": parquet_url,
                "profile": "tabular-data-resource",
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "schema": _schema(arrow, arrow.names, columns, primary_key, keys, parquet=True),
            },
            *(references[m] for m in sorted(references) if m != mart),
        ],
    }


def encode(package: dict) -> bytes:
    return json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")


def digest(package: dict) -> str:
    """The SHA-256 of the descriptor as written: the portal keeps it on the resource (`ntm_digest`),
    so a publish uploads the descriptor again only when it changed."""
    return hashlib.sha256(encode(package)).hexdigest()


def write_datapackage(target: Path, package: dict) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encode(package))
    return target
