"""The publish stage: each validated mart becomes a CKAN dataset with CSV, a DataStore table and its
validation report. Idempotent: unchanged content changes nothing on the portal; changed rows are
upserted by primary key and rows gone from the mart are deleted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import ckanapi
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ntm_core.log import log
from ntm_core.settings import dataset_prefix, publish_chunk
from publish.client import connect
from publish.datapackage import write_datapackage
from publish.files import content_hash, iter_rows, neutralise, write_csv
from publish.guard import PersonalDataRefused, refuse_personal_columns

HERE = Path(__file__).resolve().parent
DATASTORE_TYPES = {
    pa.string(): "text", pa.large_string(): "text", pa.int32(): "int4", pa.int64(): "int8",
    pa.float64(): "float8", pa.float32(): "float8", pa.bool_(): "bool", pa.date32(): "date",
}
# update_frequency (English part) -> EU frequency vocabulary, as DCAT-AP expects.
FREQUENCIES = {f: f"http://publications.europa.eu/resource/authority/frequency/{code}" for f, code in
               {"annual": "ANNUAL", "quarterly": "QUARTERLY", "monthly": "MONTHLY", "on change": "IRREG",
                "as needed": "IRREG"}.items()}
CHUNK = publish_chunk()  # rows per DataStore upsert request


@dataclass
class PublishedDataset:
    mart: str
    name: str
    url: str
    status: str  # created | updated | unchanged
    rows: int = 0
    resources: dict[str, str] = field(default_factory=dict)  # kind -> resource id


@dataclass
class PublishResult:
    datasets: list[PublishedDataset] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # mart -> why (personal data)


def _yaml(name: str) -> dict:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def column_docs(mart: str, data_dir: Path) -> tuple[dict[str, dict], dict]:
    """Column label/description and the mart's meta, from the dbt manifest (same text as dbt docs)."""
    manifest = json.loads((data_dir / "dbt_target" / "manifest.json").read_text(encoding="utf-8"))
    node = next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == mart)
    columns = {name: {"label": c.get("meta", {}).get("label_vi") or name,
                      "label_en": c.get("meta", {}).get("label_en") or name,
                      "notes": c.get("description", "")}
               for name, c in node["columns"].items()}
    return columns, node.get("meta", {})


def ensure_organization(ckan, name: str, title: str, description: str = "") -> str:
    try:
        return ckan.action.organization_show(id=name)["name"]
    except ckanapi.NotFound:
        return ckan.action.organization_create(name=name, title=title, description=description)["name"]


def _owner(ckan, departments: list[str]) -> str:
    orgs = _yaml("organizations.yaml")
    if len(departments) == 1:
        dept = departments[0]
        title = orgs["departments"].get(dept, {}).get("title", dept)
        return ensure_organization(ckan, dept, title)
    program = orgs["program"]
    for dept in departments:  # every source department has its page, even when the theme is shared
        ensure_organization(ckan, dept, orgs["departments"].get(dept, {}).get("title", dept))
    return ensure_organization(ckan, program["name"], program["title"], program.get("description", ""))


# The levels a dataset's rows are at, as its spatial coverage says them (most general first).
LEVEL_WORDS = {"province": ("cấp tỉnh", "provinces"), "district": ("cấp huyện, trước 01/7/2025", "districts, before 1 July 2025"),
               "commune": ("cấp xã", "communes")}


def spatial_coverage(levels: set[str]) -> str:
    """'Việt Nam (cấp tỉnh, cấp xã) / Viet Nam (provinces, communes)'; a table without units: 'Việt Nam'."""
    held = [words for level, words in LEVEL_WORDS.items() if level in levels]
    if not held:
        return "Việt Nam / Viet Nam"
    return (f"Việt Nam ({'; '.join(vi for vi, _ in held)}) / "
            f"Viet Nam ({'; '.join(en for _, en in held)})")


def publish_mart(ckan, mart: str, parquet: Path, validation_report: Path | None, data_dir: Path) -> PublishedDataset:
    refuse_personal_columns(mart, parquet)  # before anything reaches the portal
    meta = dict(_yaml("datasets.yaml")[mart])
    # A prefix keeps test or staging datasets apart from the real ones on a shared portal.
    meta["name"] = dataset_prefix() + meta["name"]
    columns, mart_meta = column_docs(mart, data_dir)
    primary_key = mart_meta.get("primary_key") or []
    table = pq.read_table(parquet, columns=[c for c in ("department", "year", "unit_level")
                                            if c in pq.read_schema(parquet).names])
    departments = sorted(set(table.column("department").to_pylist())) if "department" in table.column_names else []
    years = sorted(set(table.column("year").to_pylist())) if "year" in table.column_names else []
    levels = set(table.column("unit_level").to_pylist()) if "unit_level" in table.column_names else set()

    out_dir = data_dir / "publish" / mart
    csv_path = write_csv(parquet, out_dir / f"{meta['name']}.csv")
    digest = content_hash(csv_path)
    rows = pq.ParquetFile(parquet).metadata.num_rows

    try:
        existing = ckan.action.package_show(id=meta["name"])
    except ckanapi.NotFound:
        existing = None
    if existing and existing.get("ntm_content_hash") == digest and not existing.get("private") \
            and _datastore_matches(ckan, existing, parquet, rows):
        log(f"publish: {meta['name']}: unchanged")
        return PublishedDataset(mart, meta["name"], _dataset_url(ckan, meta["name"]), "unchanged", rows,
                                {r.get("ntm_kind", r["name"]): r["id"] for r in existing["resources"]})

    owner = _owner(ckan, departments)
    package = {
        "name": meta["name"],
        "title": meta["title"],
        "notes": meta["notes"],
        "owner_org": owner,
        "license_id": "cc-by",
        "tags": [{"name": t} for t in meta.get("tags", [])],
        "version": digest[:12],
        # Fields of the portal's declared schema (portal/schemas/ntm_dataset.yaml).
        **{
            "ntm_mart": mart,
            "ntm_content_hash": digest,
            "temporal_coverage": f"{years[0]}–{years[-1]}" if years else "",
            "spatial_coverage": spatial_coverage(levels),
            "update_frequency": meta.get("update_frequency", ""),
            "source_departments": ", ".join(departments),
            # The same facts under the names DCAT-AP harvesters read (ckanext-dcat on the portal).
            **({"temporal_start": f"{years[0]}-01-01", "temporal_end": f"{years[-1]}-12-31"} if years else {}),
            **({"frequency": FREQUENCIES[freq]} if (freq := meta.get("update_frequency", "").split("/")[-1].strip())
               in FREQUENCIES else {}),
            "language": '["http://publications.europa.eu/resource/authority/language/VIE", '
                        '"http://publications.europa.eu/resource/authority/language/ENG"]',
            "spatial_uri": "https://sws.geonames.org/1562822/",  # Viet Nam
        },
    }
    if existing:
        # Stays as it was (public or private) while resources are replaced.
        package["private"] = existing.get("private", True)
        # A dataset published before the portal declared its schema keeps these facts as free
        # extras, which the schema's fields of the same name now replace.
        package["extras"] = [e for e in existing.get("extras", []) if e["key"] not in package]
        dataset = ckan.action.package_patch(id=existing["id"], **package)
        status = "updated"
    else:
        # Created private: the public sees it only once every resource is in place.
        dataset = ckan.action.package_create(private=True, **package)
        status = "created"
    resources = {r.get("ntm_kind"): r for r in dataset.get("resources", []) if r.get("ntm_kind")}

    csv_res = _upload(ckan, dataset["id"], resources.get("csv"), csv_path, kind="csv", fmt="CSV",
                      name="Dữ liệu (CSV, UTF-8) / Data (CSV, UTF-8)")
    _load_datastore(ckan, csv_res["id"], parquet, columns, primary_key)
    # The table preview on the resource page; CKAN adds its default views only for tables that
    # existed when the resource was created, and creates none twice.
    ckan.action.resource_create_default_resource_views(resource=ckan.action.resource_show(id=csv_res["id"]),
                                                       create_datastore_views=True)
    parquet_res = _upload(ckan, dataset["id"], resources.get("parquet"), parquet, kind="parquet", fmt="Parquet",
                          name="Dữ liệu (Parquet) / Data (Parquet)")
    result = PublishedDataset(mart, meta["name"], _dataset_url(ckan, meta["name"]), status, rows,
                              {"csv": csv_res["id"], "parquet": parquet_res["id"]})
    if validation_report and validation_report.exists():
        report_res = _upload(ckan, dataset["id"], resources.get("validation"), validation_report, kind="validation",
                             fmt="JSON", name="Báo cáo kiểm định dữ liệu / Validation report")
        result.resources["validation"] = report_res["id"]
    descriptor = write_datapackage(
        out_dir / "datapackage.json", name=meta["name"], title=meta["title"], description=meta["notes"],
        version=digest[:12], parquet=parquet, columns=columns, primary_key=primary_key, csv_url=csv_res["url"],
        parquet_url=parquet_res["url"], departments=departments, dataset_url=result.url)
    result.resources["datapackage"] = _upload(
        ckan, dataset["id"], resources.get("datapackage"), descriptor, kind="datapackage", fmt="JSON",
        name="Mô tả gói dữ liệu (datapackage.json) / Data package descriptor")["id"]
    ckan.action.package_patch(id=dataset["id"], private=False)
    log(f"publish: {meta['name']}: {status}, {rows} rows → {result.url}")
    return result


def _datastore_fields_for(parquet: Path, columns: dict[str, dict]) -> list[dict]:
    return [{"id": f.name, "type": DATASTORE_TYPES.get(f.type, "text"),
             "info": {"label": columns.get(f.name, {}).get("label", f.name),
                      "notes": columns.get(f.name, {}).get("notes", "")}} for f in pq.read_schema(parquet)]


def _datastore_matches(ckan, package: dict, parquet: Path, rows: int) -> bool:
    """The portal's table has the mart's columns and row count (an interrupted publish has not)."""
    csv_res = next((r for r in package.get("resources", []) if r.get("ntm_kind") == "csv"), None)
    if csv_res is None:
        return False
    wanted = [(f["id"], f["type"]) for f in _datastore_fields_for(parquet, {})]
    if _datastore_fields(ckan, csv_res["id"]) != wanted:
        return False
    return ckan.action.datastore_search(resource_id=csv_res["id"], limit=0)["total"] == rows


def _dataset_url(ckan, name: str) -> str:
    return f"{ckan.address.rstrip('/')}/dataset/{name}"


def _upload(ckan, package_id: str, existing: dict | None, path: Path, *, kind: str, fmt: str, name: str) -> dict:
    with open(path, "rb") as f:
        fields = {"name": name, "format": fmt, "ntm_kind": kind, "upload": (path.name, f)}
        if existing:
            return ckan.action.resource_patch(id=existing["id"], **fields)
        return ckan.action.resource_create(package_id=package_id, **fields)


def _load_datastore(ckan, resource_id: str, parquet: Path, columns: dict[str, dict], primary_key: list[str]) -> None:
    """Create the table if needed, upsert every row by primary key, delete rows no longer in the mart."""
    fields = _datastore_fields_for(parquet, columns)
    if _datastore_fields(ckan, resource_id) not in (None, [(f["id"], f["type"]) for f in fields]):
        # The mart's columns changed: rebuild the table rather than leave stale columns behind.
        ckan.action.datastore_delete(resource_id=resource_id, force=True)
    ckan.action.datastore_create(resource_id=resource_id, force=True, fields=fields, primary_key=primary_key)
    batch: list[dict] = []
    keys_now: set[tuple] = set()
    for row in iter_rows(parquet):
        # Dates as JSON; text neutralised as in the CSV, since the DataStore is downloadable as CSV too.
        row = {k: (v.isoformat() if hasattr(v, "isoformat") else neutralise(v)) for k, v in row.items()}
        keys_now.add(tuple(row[k] for k in primary_key))
        batch.append(row)
        if len(batch) >= CHUNK:
            ckan.action.datastore_upsert(resource_id=resource_id, force=True, method="upsert", records=batch)
            batch = []
    if batch:
        ckan.action.datastore_upsert(resource_id=resource_id, force=True, method="upsert", records=batch)
    for key in _datastore_keys(ckan, resource_id, primary_key) - keys_now:
        ckan.action.datastore_delete(resource_id=resource_id, force=True, filters=dict(zip(primary_key, key)))


def _datastore_fields(ckan, resource_id: str) -> list[tuple[str, str]] | None:
    try:
        info = ckan.action.datastore_info(id=resource_id)
    except ckanapi.NotFound:
        return None
    return [(f["id"], f["type"]) for f in info["fields"] if f["id"] != "_id"]


def _datastore_keys(ckan, resource_id: str, primary_key: list[str]) -> set[tuple]:
    keys, offset = set(), 0
    while True:
        page = ckan.action.datastore_search(resource_id=resource_id, fields=primary_key, limit=32000, offset=offset)
        keys.update(tuple(r[k] for k in primary_key) for r in page["records"])
        if len(page["records"]) < 32000:
            return keys
        offset += 32000


def publish_marts(marts: dict[str, Path], reports: dict[str, Path], data_dir: Path,
                  url: str | None = None, token: str | None = None) -> PublishResult:
    ckan = connect(url, token)
    result = PublishResult()
    for mart, parquet in sorted(marts.items()):
        try:
            result.datasets.append(publish_mart(ckan, mart, parquet, reports.get(mart), data_dir))
        except PersonalDataRefused as refused:
            log(f"publish: REFUSED {refused}")
            result.refused[mart] = str(refused)
    return result
