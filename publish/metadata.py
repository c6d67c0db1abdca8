"""A dataset's metadata on the portal: what its mart's dbt YAML says of it (`meta.portal`: URL name,
titles, descriptions, tags, update frequency; the primary key; the data dictionary), read from the
dbt manifest, and what the mart's rows say (period, levels of units, source departments), in the
portal's declared schema (`portal/schemas/ntm_dataset.yaml`) and under the names DCAT-AP harvesters
read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow.parquet as pq

from ntm_core.marts import primary_key
from ntm_core.yaml_files import read_yaml

HERE = Path(__file__).resolve().parent
# update_frequency in a mart's meta.portal -> its words in Vietnamese, and the EU frequency vocabulary
# DCAT-AP expects (the portal shows the words, the DCAT output keeps the URI).
FREQUENCIES = {
    word: (vi, f"http://publications.europa.eu/resource/authority/frequency/{code}")
    for word, (vi, code) in {
        "annual": ("hằng năm", "ANNUAL"),
        "quarterly": ("hằng quý", "QUARTERLY"),
        "monthly": ("hằng tháng", "MONTHLY"),
        "on change": ("khi có thay đổi", "IRREG"),
        "as needed": ("khi cần", "IRREG"),
    }.items()
}
LANGUAGES = (
    '["http://publications.europa.eu/resource/authority/language/VIE", '
    '"http://publications.europa.eu/resource/authority/language/ENG"]'
)
LANGUAGE_NAMES = ("Tiếng Việt, Tiếng Anh", "Vietnamese, English")
VIET_NAM = "https://sws.geonames.org/1562822/"
# The levels a dataset's rows are at, as its spatial coverage says them (most general first).
LEVEL_WORDS = {
    "province": ("cấp tỉnh", "provinces"),
    "district": ("cấp huyện, trước 01/7/2025", "districts, before 1 July 2025"),
    "commune": ("cấp xã", "communes"),
}


def portal_yaml(name: str) -> dict:
    """`organizations.yaml` or `maps.yaml`: what the portal shows that no mart describes, as data."""
    return read_yaml(HERE / name)


@dataclass
class MartFacts:
    """What the published table itself says: its source departments, years, levels of units and the
    provinces (of today's map, since 1 July 2025) its rows are in."""

    departments: list[str]
    years: list[int]
    levels: set[str]
    provinces: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, parquet: Path) -> MartFacts:
        wanted = ("department", "year", "unit_level", "current_province_code")
        names = pq.read_schema(parquet).names
        table = pq.read_table(parquet, columns=[c for c in wanted if c in names])
        values = {
            c: {v for v in table.column(c).to_pylist() if v is not None} if c in table.column_names else set()
            for c in wanted
        }
        return cls(
            sorted(values["department"]),
            sorted(values["year"]),
            values["unit_level"],
            sorted(values["current_province_code"]),
        )


def spatial_coverage(levels: set[str]) -> tuple[str, str]:
    """('Việt Nam (cấp tỉnh; cấp xã)', 'Viet Nam (provinces; communes)'); a table without units: 'Việt Nam'."""
    held = [words for level, words in LEVEL_WORDS.items() if level in levels]
    if not held:
        return "Việt Nam", "Viet Nam"
    return f"Việt Nam ({'; '.join(vi for vi, _ in held)})", f"Viet Nam ({'; '.join(en for _, en in held)})"


def dataset_fields(meta: dict, mart: str, digest: str, facts: MartFacts, sources: list[str] = ()) -> dict:
    """The dataset's fields, as `package_create` and `package_patch` take them (`owner_org` aside);
    `sources` are the department datasets the mart is built from (source_datasets)."""
    years, frequency = facts.years, meta.get("update_frequency", "")
    frequency_vi, frequency_uri = FREQUENCIES.get(frequency, (frequency, None))
    spatial_vi, spatial_en = spatial_coverage(facts.levels)
    fields = {
        "name": meta["name"],
        # Vietnamese in CKAN's own fields, English beside them: both in the API, the portal shows one.
        "title": meta["title"],
        "title_en": meta["title_en"],
        "notes": meta["notes"],
        "notes_en": meta["notes_en"],
        "license_id": "cc-by",
        "tags": [{"name": t} for t in meta.get("tags", [])],
        "tags_en": ", ".join(meta.get("tags_en", [])),
        "version": digest[:12],
        # Fields of the portal's declared schema.
        "ntm_mart": mart,
        "ntm_content_hash": digest,
        "temporal_coverage": f"{years[0]}–{years[-1]}" if years else "",
        "spatial_coverage": spatial_vi,
        "spatial_coverage_en": spatial_en,
        "update_frequency": frequency_vi,
        "update_frequency_en": frequency,
        "languages": LANGUAGE_NAMES[0],
        "languages_en": LANGUAGE_NAMES[1],
        "source_departments": ", ".join(facts.departments),
        "source_datasets": ", ".join(sources),
        # The same facts under the names DCAT-AP harvesters read (ckanext-dcat on the portal).
        "language": LANGUAGES,
        "spatial_uri": VIET_NAM,
        # The place pages of these provinces are the dataset's spatial coverage in DCAT (ckanext-ntm's
        # profile makes their IRIs on the portal's own address).
        "spatial_provinces": ", ".join(facts.provinces),
    }
    if years:
        fields.update(temporal_start=f"{years[0]}-01-01", temporal_end=f"{years[-1]}-12-31")
    if frequency_uri:
        fields["frequency"] = frequency_uri
    return fields


def _manifest(data_dir: Path) -> dict:
    """dbt's manifest, parsed once per build it describes (a publish asks for it about thirty times;
    it is megabytes of JSON). Read-only: every caller shares it."""
    path = data_dir / "dbt_target" / "manifest.json"
    stat = path.stat()
    return _parsed_manifest(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _parsed_manifest(path: Path, mtime_ns: int, size: int) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _model_id(manifest: dict, mart: str) -> str:
    return next(i for i, n in manifest["nodes"].items() if n["resource_type"] == "model" and n["name"] == mart)


class NoPortalDescription(LookupError):
    """A mart to publish whose dbt YAML has no `meta.portal`."""


def portal_descriptions(data_dir: Path) -> dict[str, dict]:
    """Each mart's portal description, as its dbt YAML states it under `meta.portal` (read from the
    dbt manifest): {mart: {name, title, title_en, notes, notes_en, tags, tags_en, update_frequency}}."""
    return {
        node["name"]: node["meta"]["portal"]
        for node in _manifest(data_dir)["nodes"].values()
        if node["resource_type"] == "model" and (node.get("meta") or {}).get("portal")
    }


def portal_description(mart: str, data_dir: Path) -> dict:
    try:
        return portal_descriptions(data_dir)[mart]
    except KeyError:
        raise NoPortalDescription(f"{mart}: no meta.portal in dbt_project/models/marts/{mart}.yml") from None


def source_datasets(mart: str, data_dir: Path) -> list[str]:
    """The department datasets (dbt sources `bronze.<dataset>`) the mart is built from, by dbt's lineage:
    the portal shows their freshness on the dataset's page."""
    manifest = _manifest(data_dir)
    seen, todo, found = set(), [_model_id(manifest, mart)], set()
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        if node_id.startswith("source.") and (source := manifest["sources"][node_id])["source_name"] == "bronze":
            found.add(source["name"])
        todo += (manifest["nodes"].get(node_id) or {}).get("depends_on", {}).get("nodes", [])
    return sorted(found)


def column_docs(mart: str, data_dir: Path) -> tuple[dict[str, dict], dict]:
    """Column label/description (and its indicator declaration, if the column is one: the portal's
    map and places read it from the data dictionary) and the mart's meta with its `primary_key`
    (derived from its constraint), from the dbt manifest (same text as dbt docs)."""
    manifest = _manifest(data_dir)
    node = manifest["nodes"][_model_id(manifest, mart)]
    columns = {
        name: {
            "label": c.get("meta", {}).get("label_vi") or name,
            "label_en": c.get("meta", {}).get("label_en") or name,
            "notes": c.get("description", ""),
            **({"indicator": c["meta"]["indicator"]} if c.get("meta", {}).get("indicator") else {}),
        }
        for name, c in node["columns"].items()
    }
    return columns, {**node.get("meta", {}), "primary_key": primary_key(node)}
