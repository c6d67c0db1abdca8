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


# CKAN's own interface texts that its Vietnamese catalogue leaves untranslated, in Vietnamese: the
# plugin hands them to CKAN's i18n (ITranslation) as a catalogue of its own, so every core template's
# `_()` shows them on Vietnamese pages. English pages keep CKAN's English msgid.
CKAN_MESSAGES_VI = {
    "Skip to main content": "Chuyển đến nội dung chính",
    "Breadcrumb": "Đường dẫn",
    "Account": "Tài khoản",
    "Navigate to Home - {site_title}": "Về trang chủ - {site_title}",
    "Toggle navigation": "Mở hoặc đóng trình đơn",
    "Search Datasets...": "Tìm bộ dữ liệu...",
    "Search datasets...": "Tìm bộ dữ liệu...",
    "Submit": "Gửi",
    "View dashboard": "Xem bảng điều khiển",
    "Profile settings": "Cài đặt hồ sơ",
    "You might need to login to access this page.": "Có thể bạn cần đăng nhập để xem trang này.",
    "Click here to login": "Đăng nhập tại đây",
    "Current resource: {name}": "Tài nguyên đang xem: {name}",
    "Resource URL: {url}": "Địa chỉ tài nguyên: {url}",
    "Dataset description:": "Mô tả bộ dữ liệu:",
    "Data last updated": "Dữ liệu cập nhật lần cuối",
    "Metadata last updated": "Siêu dữ liệu cập nhật lần cuối",
    "Last Updated": "Cập nhật lần cuối",
    "This dataset has no data": "Bộ dữ liệu này chưa có dữ liệu",
    "Navigate to resource: {name_or_id}": "Đến tài nguyên: {name_or_id}",
    "Navigate to dataset: {title}": "Đến bộ dữ liệu: {title}",
    "Remove applied filter: {value}": "Bỏ bộ lọc: {value}",
    "Filter by: {title}": "Lọc theo: {title}",
    "Search datasets by {name}: {label}": "Tìm bộ dữ liệu theo {name}: {label}",
    "There is no description for this dataset.": "Bộ dữ liệu này chưa có mô tả.",
}


def write_catalogue(messages: dict[str, str], folder, locale: str, domain: str) -> None:
    """`messages` as a compiled gettext catalogue `<folder>/<locale>/LC_MESSAGES/<domain>.mo`, the
    form CKAN's i18n loads (Babel ships with CKAN)."""
    import os
    from pathlib import Path

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalogue = Catalog(locale=locale, domain=domain)
    for msgid, msgstr in messages.items():
        catalogue.add(msgid, msgstr)
    target = Path(folder) / locale / "LC_MESSAGES" / f"{domain}.mo"
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_suffix(f".{os.getpid()}.tmp")  # workers start together
    with open(staged, "wb") as out:
        write_mo(out, catalogue)
    staged.replace(target)
