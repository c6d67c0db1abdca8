"""The accepted headers of every dataset, as a page departments can read (docs/datasets.md).

Generated from the contracts, so the page and the checks never disagree:
    uv run ntm contracts --write docs/datasets.md
"""

from __future__ import annotations

from pathlib import Path

from ingest.contract import Contract, all_contracts

TYPE_TEXT = {
    "text": "chữ / text",
    "code": "mã, giữ số 0 đầu / code, leading zeros kept",
    "number": "số (46,32) / number",
    "percent": "phần trăm (46,32 hoặc 46,32%) / percent",
    "integer": "số nguyên (1.797) / whole number",
    "year": "năm (2023) / year",
    "status": "Đạt / Chưa đạt / x",
    "boolean": "Có / Chưa",
    "date": "ngày/tháng/năm (27/01/2024) / day/month/year",
    "period": "kỳ (Quý I/2024, Tháng 01/2024, Năm 2023)",
}


BAD_ROWS_TEXT = {
    "quarantine": "giữ lại dòng lỗi, nhận phần còn lại / held back, the rest lands",
    "reject_file": "từ chối cả tệp / the whole file is rejected",
}
LEVEL_TEXT = {
    "province": "tỉnh / province",
    "district": "huyện, trước 01/7/2025 / district, before 1 July 2025",
    "commune": "xã, phường, đặc khu / commune",
}


def render(contracts: dict[str, Contract]) -> str:
    lines = [
        "# Bộ dữ liệu và tên cột được chấp nhận / Datasets and accepted column headers",
        "",
        "Đặt tệp vào `<thư mục gửi>/<đơn vị>/<bộ dữ liệu>/`. Tên cột không phân biệt hoa thường, "
        "có dấu hay không dấu. Cột đánh dấu **bắt buộc** phải có. Cột dữ liệu cá nhân được nhận diện "
        "nhưng không bao giờ được lưu hay công bố.",
        "",
        "Put files in `<dropzone>/<department>/<dataset>/`. Headers are matched ignoring case, diacritics and "
        "punctuation. Columns marked **required** must be present. Personal-data columns are recognised, then "
        "dropped: never stored past the original file, never published.",
        "",
    ]
    for c in contracts.values():
        lines += [
            f"## `{c.id}`: {c.title['vi']} / {c.title['en']}",
            "",
            f"{c.description.get('vi', '')}",
            "",
            f"{c.description.get('en', '')}",
            "",
            f"- Mỗi dòng / Grain: {c.grain}",
            f"- Khóa / Keys: {', '.join(c.keys)}",
            "- Cấp đơn vị / Unit levels: "
            + (", ".join(LEVEL_TEXT[level] for level in c.unit_levels) or "không gắn đơn vị / no unit"),
            f"- Dòng lỗi / Bad rows: {BAD_ROWS_TEXT[c.bad_rows]}",
            "",
            "| cột / column | tên cột được chấp nhận / accepted headers | kiểu / type | ghi chú / notes |",
            "|---|---|---|---|",
        ]
        for col in c.columns:
            notes = []
            if col.required:
                notes.append("**bắt buộc / required**")
            if col.personal:
                notes.append("dữ liệu cá nhân, bị loại bỏ / personal data, dropped")
            if col.range:
                low, high = col.range
                notes.append(f"{'' if low is None else low}–{'' if high is None else high}")
            if col.allowed:
                notes.append("một trong / one of: " + ", ".join(col.allowed))
            if col.unit:
                notes.append(f"đơn vị / unit: {col.unit}")
            lines.append(
                f"| `{col.name}` | {'; '.join(col.aliases)} | {TYPE_TEXT.get(col.type, col.type)} | "
                f"{'; '.join(notes)} |"
            )
        lines.append("")
    return "\n".join(lines)


def write(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(all_contracts()), encoding="utf-8")
    return target
