"""Maps published as files (publish/maps.yaml): a dataset per map, its GeoJSON as a resource with
the portal's map view. Idempotent like the marts: an unchanged file changes nothing."""

from __future__ import annotations

import hashlib

from ntm_core.log import log
from ntm_core.settings import REPO_ROOT, dataset_prefix
from publish.ckan import create_or_patch, existing_dataset, metadata_matches, upload
from publish.metadata import FREQUENCIES, LANGUAGE_NAMES, LANGUAGES, VIET_NAM, portal_yaml


def map_fields(meta: dict, digest: str) -> dict:
    frequency_vi, frequency_uri = FREQUENCIES[meta["update_frequency"]]
    return {
        "name": dataset_prefix() + meta["name"],
        "title": meta["title"],
        "title_en": meta["title_en"],
        "notes": meta["notes"],
        "notes_en": meta["notes_en"],
        "license_id": "cc-by",
        "tags": [{"name": t} for t in meta["tags"]],
        "tags_en": ", ".join(meta["tags_en"]),
        "version": digest[:12],
        "ntm_content_hash": digest,
        "spatial_coverage": "Việt Nam (cấp tỉnh)",
        "spatial_coverage_en": "Viet Nam (provinces)",
        "update_frequency": frequency_vi,
        "update_frequency_en": meta["update_frequency"],
        "frequency": frequency_uri,
        "languages": LANGUAGE_NAMES[0],
        "languages_en": LANGUAGE_NAMES[1],
        "language": LANGUAGES,
        "spatial_uri": VIET_NAM,
    }


def publish_maps(ckan, owner_org: str) -> list[tuple[str, str]]:
    """(dataset name, status) for each map of maps.yaml."""
    done = []
    for meta in portal_yaml("maps.yaml").values():
        path = REPO_ROOT / meta["file"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        fields = map_fields(meta, digest)
        existing = existing_dataset(ckan, fields["name"])
        if existing and not existing.get("private") and metadata_matches(existing, fields):
            done.append((fields["name"], "unchanged"))
            continue
        dataset, status = create_or_patch(ckan, {**fields, "owner_org": owner_org}, existing)
        had = {r.get("ntm_kind"): r for r in dataset.get("resources", []) if r.get("ntm_kind")}
        resource = upload(ckan, dataset["id"], had, path, "geojson")
        ckan.action.resource_create_default_resource_views(resource=ckan.action.resource_show(id=resource["id"]))
        ckan.action.package_patch(id=dataset["id"], private=False)
        log(f"publish: {fields['name']}: {status} (map)")
        done.append((fields["name"], status))
    return done
