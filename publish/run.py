"""The publish stage: each validated mart becomes a CKAN dataset with CSV, a DataStore table and its
validation report. Idempotent: unchanged content changes nothing on the portal; changed rows are
upserted by primary key and rows gone from the mart are deleted.

The jobs live in their own modules: metadata (`publish.metadata`), files (`publish.files`,
`publish.spreadsheet`, `publish.datapackage`), the table (`publish.datastore`), the guard (`publish.guard`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ntm_core.departments import organization, registry_files
from ntm_core.fingerprints import mart_fingerprint, unchanged
from ntm_core.log import log
from ntm_core.published import previous_publish, record_publish
from ntm_core.settings import DBT_MARTS, REPO_ROOT, dataset_prefix, datastore_db_url
from publish import datapackage, datastore, spreadsheet
from publish.ckan import (
    create_or_patch,
    dataset_url,
    ensure_organization,
    existing_dataset,
    metadata_matches,
    organizations,
    upload,
)
from publish.client import connect
from publish.files import content_hash, write_csv
from publish.guard import PersonalDataRefused, refuse_personal_columns
from publish.maps import publish_maps
from publish.metadata import (
    MartFacts,
    column_docs,
    dataset_fields,
    portal_description,
    portal_descriptions,
    portal_yaml,
    source_datasets,
)


@dataclass
class PublishedDataset:
    mart: str
    name: str
    url: str
    status: str  # created | updated | unchanged
    rows: int = 0
    resources: dict[str, str] = field(default_factory=dict)  # kind -> resource id
    table_load: str = ""  # how the DataStore table was loaded: copy | upsert | api (datastore.load_table)
    digest: str = ""  # the published CSV's SHA-256 (the dataset's ntm_content_hash)


@dataclass
class PublishResult:
    datasets: list[PublishedDataset] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # mart -> why (personal data)
    maps: list[tuple[str, str]] = field(default_factory=list)  # (dataset, status) of publish/maps.yaml


def _owner(ckan, departments: list[str], known: dict[str, dict] | None = None) -> str:
    """A department's organization as the department registry describes it; the program's
    (organizations.yaml) when several departments contribute. `known`: the portal's organizations
    (publish.ckan.organizations), read once per publish."""
    if len(departments) == 1:
        return ensure_organization(ckan, departments[0], organization(departments[0]), known)
    program = portal_yaml("organizations.yaml")["program"]
    for dept in departments:  # every source department has its page, even when the theme is shared
        ensure_organization(ckan, dept, organization(dept), known)
    return ensure_organization(ckan, program["name"], program, known)


def publish_mart(
    ckan, mart: str, parquet: Path, validation_report: Path | None, data_dir: Path, known_organizations=None
) -> PublishedDataset:
    """`known_organizations`: the portal's organizations as publish.ckan.organizations read them (once
    per publish: a theme with 170 source departments would otherwise ask for each)."""
    refuse_personal_columns(mart, parquet)  # before anything reaches the portal
    meta = dict(portal_description(mart, data_dir))  # the mart's dbt YAML, meta.portal
    # A prefix keeps test or staging datasets apart from the real ones on a shared portal.
    meta["name"] = dataset_prefix() + meta["name"]
    csv_path = write_csv(parquet, data_dir / "publish" / mart / f"{meta['name']}.csv")
    digest, rows = content_hash(csv_path), pq.ParquetFile(parquet).metadata.num_rows
    existing = existing_dataset(ckan, meta["name"])
    facts = MartFacts.read(parquet)
    fields = dataset_fields(meta, mart, digest, facts, source_datasets(mart, data_dir))
    columns, mart_meta = column_docs(mart, data_dir)
    primary_key = mart_meta["primary_key"]
    if (
        existing
        and existing.get("ntm_content_hash") == digest
        and not existing.get("private")
        and metadata_matches(existing, fields)
        and datastore.table_matches(ckan, existing, parquet, rows, columns, primary_key)
        and FILES <= {r.get("ntm_kind") for r in existing["resources"]}  # e.g. an XLSX added since
    ):
        url = dataset_url(ckan, meta["name"])
        # The data package copies the schemas of the datasets its foreign keys point to: written again
        # when one of those changed.
        refreshed = _refresh_datapackage(ckan, existing, mart, meta, parquet, facts, url, data_dir)
        status = "updated" if refreshed else "unchanged"
        log(f"publish: {meta['name']}: {status}")
        resources = {r.get("ntm_kind", r["name"]): r["id"] for r in existing["resources"]}
        return PublishedDataset(mart, meta["name"], url, status, rows, resources, digest=digest)
    package = {**fields, "owner_org": _owner(ckan, facts.departments, known_organizations)}
    dataset, status = create_or_patch(ckan, package, existing)
    result = PublishedDataset(mart, meta["name"], dataset_url(ckan, meta["name"]), status, rows, digest=digest)
    result.resources, result.table_load = _resources(
        ckan, dataset, mart, meta, parquet, csv_path, validation_report, data_dir, facts, result.url
    )
    if dataset.get("private", True):  # a dataset already public stays so while its resources change
        ckan.action.package_patch(id=dataset["id"], private=False)
    log(f"publish: {meta['name']}: {status}, {rows} rows (table by {result.table_load}) → {result.url}")
    return result


# The files every published dataset has (the validation report, when there is one, besides).
FILES = {"csv", "xlsx", "parquet", "datapackage"}


def _resources(
    ckan,
    dataset: dict,
    mart: str,
    meta: dict,
    parquet: Path,
    csv_path: Path,
    validation_report: Path | None,
    data_dir: Path,
    facts: MartFacts,
    url: str,
) -> tuple[dict[str, str], str]:
    """The CSV and its DataStore table, the XLSX workbook, the Parquet file, the validation report,
    the data package; and how the table was loaded."""
    columns, mart_meta = column_docs(mart, data_dir)
    primary_key = mart_meta["primary_key"]
    had = {r.get("ntm_kind"): r for r in dataset.get("resources", []) if r.get("ntm_kind")}
    csv_res = upload(ckan, dataset["id"], had, csv_path, "csv")
    table_load = datastore.load_table(
        ckan,
        csv_res["id"],
        parquet,
        csv_path,
        columns,
        primary_key,
        database=datastore_db_url(ckan.address),
        snapshots=data_dir / "publish" / "datastore",
    )
    # The table preview on the resource page; CKAN adds its default views only for tables that
    # existed when the resource was created, and creates none twice. A public dataset whose table
    # took only an upsert has had them since the publish that made it public.
    if dataset.get("private", True) or table_load != "upsert":
        ckan.action.resource_create_default_resource_views(
            resource=ckan.action.resource_show(id=csv_res["id"]), create_datastore_views=True
        )
    xlsx = spreadsheet.write_xlsx(parquet, csv_path.with_suffix(".xlsx"), columns, primary_key)
    xlsx_res = upload(ckan, dataset["id"], had, xlsx, "xlsx")
    parquet_res = upload(ckan, dataset["id"], had, parquet, "parquet")
    ids = {"csv": csv_res["id"], "xlsx": xlsx_res["id"], "parquet": parquet_res["id"]}
    if validation_report and validation_report.exists():
        ids["validation"] = upload(ckan, dataset["id"], had, validation_report, "validation")["id"]
    urls = {"csv": csv_res["url"], "parquet": parquet_res["url"]}
    package = _datapackage(ckan, mart, meta, dataset["version"], parquet, facts, url, urls, data_dir)
    ids["datapackage"] = _upload_datapackage(ckan, dataset["id"], had, package, csv_path.parent)["id"]
    return ids, table_load


def _datapackage(
    ckan, mart: str, meta: dict, version: str, parquet: Path, facts: MartFacts, url: str, urls: dict, data_dir: Path
) -> dict:
    """The dataset's data package, its files at the portal's `urls` (csv, parquet), with the resources
    of the public datasets its foreign keys point to."""
    columns, mart_meta = column_docs(mart, data_dir)
    relations = datapackage.mart_relationships(mart, data_dir)
    names = {m: dataset_prefix() + d["name"] for m, d in portal_descriptions(data_dir).items()}
    return datapackage.descriptor(
        mart=mart,
        name=meta["name"],
        title=meta["title"],
        description=f"{meta['notes']}\n\n{meta['notes_en']}",
        version=version,
        parquet=parquet,
        columns=columns,
        primary_key=mart_meta["primary_key"],
        csv_url=urls["csv"],
        parquet_url=urls["parquet"],
        departments=facts.departments,
        dataset_url=url,
        relations=relations,
        references=datapackage.published_references(ckan, mart, relations, names),
    )


def _upload_datapackage(ckan, package_id: str, had: dict[str, dict], package: dict, folder: Path) -> dict:
    """Upload the data package with its digest (`ntm_digest`), which the next publish compares."""
    path = datapackage.write_datapackage(folder / "datapackage.json", package)
    return upload(ckan, package_id, had, path, "datapackage", ntm_digest=datapackage.digest(package))


def _refresh_datapackage(
    ckan, existing: dict, mart: str, meta: dict, parquet: Path, facts: MartFacts, url: str, data_dir: Path
) -> bool:
    """Upload the data package of a dataset otherwise unchanged when it is not the one published
    (a dataset its foreign keys point to changed its schema); whether it did."""
    had = {r["ntm_kind"]: r for r in existing["resources"] if r.get("ntm_kind")}
    urls = {kind: had[kind]["url"] for kind in ("csv", "parquet")}
    package = _datapackage(ckan, mart, meta, existing["version"], parquet, facts, url, urls, data_dir)
    if had["datapackage"].get("ntm_digest") == datapackage.digest(package):
        return False
    _upload_datapackage(ckan, existing["id"], had, package, data_dir / "publish" / mart)
    return True


def publish_marts(
    marts: dict[str, Path],
    reports: dict[str, Path],
    data_dir: Path,
    url: str | None = None,
    token: str | None = None,
    ckan=None,
) -> PublishResult:
    """Publish each mart, except one the portal already shows as last published from this data dir
    (same content, same metadata and publishing code, same portal and dataset): that one is
    "unchanged" without being read again nor its dataset fetched. `ckan`: a session already open."""
    ckan = ckan or connect(url, token)
    result, versions, known_organizations = PublishResult(), _PortalVersions(ckan), None
    for mart, parquet in sorted(marts.items()):
        record = previous_publish(data_dir, mart) or {}
        fingerprint = mart_fingerprint(parquet, publish_rules(mart), record.get("fingerprint"))
        name = dataset_prefix() + portal_description(mart, data_dir)["name"]
        if _still_shown(ckan, versions, record, fingerprint, name):
            log(f"publish: {name}: unchanged (not read again)")
            link = dataset_url(ckan, name)
            result.datasets.append(PublishedDataset(mart, name, link, "unchanged", record["rows"], record["resources"]))
            continue
        if known_organizations is None:  # read when a first mart is to be published, not before
            known_organizations = organizations(ckan)
        try:
            published = publish_mart(ckan, mart, parquet, reports.get(mart), data_dir, known_organizations)
        except PersonalDataRefused as refused:
            log(f"publish: REFUSED {refused}")
            result.refused[mart] = str(refused)
            continue
        result.datasets.append(published)
        record_publish(  # the next validation's row-count baseline, and the next publish's shortcut
            data_dir,
            mart,
            published.rows,
            portal=ckan.address,
            name=published.name,
            digest=published.digest,
            resources=published.resources,
            fingerprint=fingerprint,
        )
    return result


def publish_rules(mart: str) -> list[Path]:
    """What a published dataset is made from besides its rows: the mart's dbt YAML (portal description,
    key, data dictionary), the portal's own metadata (organizations.yaml; its organization's from the
    department registry) and the publishing code itself."""
    here = Path(__file__).resolve().parent
    schema = REPO_ROOT / "portal" / "schemas" / "ntm_dataset.yaml"
    metadata = [*sorted(here.glob("*.yaml")), *registry_files()]
    # The data package copies the published schema of each mart the mart's foreign keys point to.
    model = DBT_MARTS / f"{mart}.yml"
    referenced = [DBT_MARTS / f"{m}.yml" for m in datapackage.referenced_marts(model) if m != mart]
    return [*sorted(here.glob("*.py")), *metadata, model, *(m for m in referenced if m.exists()), schema]


def _still_shown(ckan, versions: _PortalVersions, record: dict, fingerprint: dict, name: str) -> bool:
    """The mart is what was last published (content, metadata, code), to this portal under this
    name, and the portal still shows that version."""
    same_place = (record.get("portal"), record.get("name")) == (ckan.address, name)
    return (
        unchanged(fingerprint, record.get("fingerprint")) and same_place and versions.of(name) == record.get("digest")
    )


class _PortalVersions:
    """Public dataset name -> its ntm_content_hash, asked of the portal once, when first needed
    (a page of 1,000 datasets per request)."""

    def __init__(self, ckan):
        self.ckan, self.found = ckan, None

    def of(self, name: str) -> str | None:
        if self.found is None:
            self.found, start = {}, 0
            while True:
                page = self.ckan.action.package_search(
                    q="*:*", rows=1000, start=start, fl="name,ntm_content_hash,private"
                )
                self.found.update(
                    (d["name"], d.get("ntm_content_hash")) for d in page["results"] if not d.get("private")
                )
                start += len(page["results"])
                if not page["results"] or start >= page["count"]:
                    break
        return self.found.get(name)


def publish_map_files(
    result: PublishResult, url: str | None = None, token: str | None = None, ckan=None
) -> PublishResult:
    """The maps of maps.yaml, owned by the program's organization. `ckan`: a session already open."""
    ckan = ckan or connect(url, token)
    program = portal_yaml("organizations.yaml")["program"]
    result.maps = publish_maps(ckan, ensure_organization(ckan, program["name"], program))
    return result
