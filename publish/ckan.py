"""The CKAN primitives every publisher uses (datasets, maps): find a dataset, create or patch it,
compare its metadata, upload a file as one of its resources, make sure an organization exists."""

from __future__ import annotations

from pathlib import Path

import ckanapi

from publish import spreadsheet
from publish.files import CSV_DESCRIPTION


def ensure_organization(ckan, name: str, meta: dict, known: dict[str, dict] | None = None) -> str:
    """The organization as `meta` describes it (the department registry's `organization`, or the
    program's entry in organizations.yaml): Vietnamese title and description, the
    English ones as extras (`title_en`, `description_en`); created, or corrected where it differs.
    `known`: the portal's organizations as `organizations()` read them, for a caller that makes many
    (a theme with 170 source departments): asked for once, kept current here. Without it, this one
    organization is asked for by name."""
    wanted = {"title": meta.get("title", name), "description": meta.get("description", "")}
    extras = {k: meta[k] for k in ("title_en", "description_en") if meta.get(k)}
    org = known.get(name) if known is not None else _organization(ckan, name)
    if org is None:
        org = ckan.action.organization_create(
            name=name, **wanted, extras=[{"key": k, "value": v} for k, v in extras.items()]
        )
    else:
        had = {e["key"]: e["value"] for e in org.get("extras", [])}
        if any(org.get(k) != v for k, v in wanted.items()) or any(had.get(k) != v for k, v in extras.items()):
            merged = {**had, **extras}
            org = ckan.action.organization_patch(
                id=name, **wanted, extras=[{"key": k, "value": v} for k, v in merged.items()]
            )
    if known is not None:
        known[name] = org
    return name


def _organization(ckan, name: str) -> dict | None:
    try:
        return ckan.action.organization_show(id=name, include_users=False, include_datasets=False)
    except ckanapi.NotFound:
        return None


# Full organization records (extras included) asked for per request. A portal returns at most its
# `ckan.group_and_organization_list_all_fields_max` (25 by default; ours allows this many), and says
# nothing when it returns fewer: the pages end with an empty one.
ORGANIZATION_PAGE = 1000


def organizations(ckan) -> dict[str, dict]:
    """Every organization on the portal, with its extras, by name."""
    found: dict[str, dict] = {}
    while True:
        page = ckan.action.organization_list(
            all_fields=True, include_extras=True, limit=ORGANIZATION_PAGE, offset=len(found)
        )
        if not page:
            return found
        found.update((org["name"], org) for org in page)


def metadata_matches(existing: dict, fields: dict) -> bool:
    """Whether the portal already shows what the mart's dbt YAML and its rows say (a changed title or a
    field the schema gained is written even when the rows are the same)."""
    tags = {t["name"] for t in existing.get("tags", [])}
    return tags == {t["name"] for t in fields["tags"]} and all(
        existing.get(k) == v for k, v in fields.items() if k != "tags"
    )


def existing_dataset(ckan, name: str) -> dict | None:
    try:
        return ckan.action.package_show(id=name)
    except ckanapi.NotFound:
        return None


def create_or_patch(ckan, package: dict, existing: dict | None) -> tuple[dict, str]:
    if existing:
        # Stays as it was (public or private) while resources are replaced.
        package["private"] = existing.get("private", True)
        # A dataset published before the portal declared its schema keeps these facts as free
        # extras, which the schema's fields of the same name now replace.
        package["extras"] = [e for e in existing.get("extras", []) if e["key"] not in package]
        return ckan.action.package_patch(id=existing["id"], **package), "updated"
    # Created private: the public sees it only once every resource is in place.
    return ckan.action.package_create(private=True, **package), "created"


# Each kind of resource a dataset has: (format, name shown on the portal, its English name).
RESOURCES = {
    "csv": ("CSV", "Dữ liệu (CSV, UTF-8)", "Data (CSV, UTF-8)"),
    "xlsx": ("XLSX", "Dữ liệu (Excel, XLSX)", "Data (Excel, XLSX)"),
    "parquet": ("Parquet", "Dữ liệu (Parquet)", "Data (Parquet)"),
    "validation": ("JSON", "Báo cáo kiểm định dữ liệu", "Validation report"),
    "datapackage": ("JSON", "Mô tả gói dữ liệu (datapackage.json)", "Data package descriptor (datapackage.json)"),
    "geojson": ("GeoJSON", "Bản đồ (GeoJSON)", "Map (GeoJSON)"),
}
# What a resource's page says of it (both languages), where there is something to say.
DESCRIPTIONS = {"csv": CSV_DESCRIPTION, "xlsx": spreadsheet.DESCRIPTION}


def dataset_url(ckan, name: str) -> str:
    return f"{ckan.address.rstrip('/')}/dataset/{name}"


def upload(ckan, package_id: str, had: dict[str, dict], path: Path, kind: str, **extra: str) -> dict:
    """Upload a file as the dataset's resource of this kind, replacing the one it had."""
    fmt, name, name_en = RESOURCES[kind]
    with open(path, "rb") as f:
        fields = {"name": name, "name_en": name_en, "format": fmt, "ntm_kind": kind, "upload": (path.name, f)}
        fields.update({"description": DESCRIPTIONS[kind]} if kind in DESCRIPTIONS else {}, **extra)
        if kind in had:
            return ckan.action.resource_patch(id=had[kind]["id"], **fields)
        return ckan.action.resource_create(package_id=package_id, **fields)
