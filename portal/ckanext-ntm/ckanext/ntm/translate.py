"""Both languages are kept in the metadata (Vietnamese in CKAN's own fields, English in `<field>_en`);
a page shows the reader's. These functions rewrite a dataset or organization dict *for display*
only; the API keeps both languages as stored. No CKAN import: tested on their own."""

from __future__ import annotations

# Dataset fields with an English twin `<field>_en`, swapped in for the English interface.
DATASET_FIELDS = ("title", "notes", "spatial_coverage", "update_frequency", "languages")
RESOURCE_FIELDS = ("name",)
ORGANIZATION_FIELDS = ("title", "description")


def translated(record: dict, fields: tuple[str, ...]) -> dict:
    """`<field>_translated` ({'vi': …, 'en': …}) for each field: what CKAN's `h.get_translated`
    reads, so core templates (`dataset_display_name`, the notes) show the reader's language."""
    out = dict(record)
    for field in fields:
        if record.get(f"{field}_en"):
            out[f"{field}_translated"] = {"vi": record.get(field) or "", "en": record[f"{field}_en"]}
    return out


def for_language(dataset: dict, lang: str) -> dict:
    """The dataset as a page in `lang` shows it: English fields and tags in place of Vietnamese ones."""
    if lang != "en":
        return translated(dataset, DATASET_FIELDS)
    shown = dict(dataset)
    for field in DATASET_FIELDS:
        if dataset.get(f"{field}_en"):
            shown[field] = dataset[f"{field}_en"]
    if dataset.get("tags_en"):
        names = [t.strip() for t in str(dataset["tags_en"]).split(",") if t.strip()]
        shown["tags"] = [{"name": n, "display_name": n} for n in names]
    shown["resources"] = [
        {**r, **{f: r[f"{f}_en"] for f in RESOURCE_FIELDS if r.get(f"{f}_en")}} for r in dataset.get("resources", [])
    ]
    if isinstance(dataset.get("organization"), dict):
        shown["organization"] = organization_for_language(dataset["organization"], lang)
    return translated(shown, DATASET_FIELDS)


def organization_for_language(org: dict, lang: str) -> dict:
    if lang != "en":
        return org
    extras = {e.get("key"): e.get("value") for e in org.get("extras", []) if isinstance(e, dict)}
    shown = dict(org)
    for field in ORGANIZATION_FIELDS:
        english = org.get(f"{field}_en") or extras.get(f"{field}_en")
        if english:
            shown[field] = english
            if field == "title":
                shown["display_name"] = english
    return shown
