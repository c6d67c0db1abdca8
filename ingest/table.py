"""Find the real table inside a department's sheet and read it against the dataset contract.

Report-style forms carry title rows above the header, a two-level header with merged cells,
a column-number row (A, B, 1, 2 …), group rows (I, II … naming a district), a total row,
footnotes and a signature block. Only the rows between the header and the footer that carry
a unit name and at least one value are data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest.contract import Column, Contract
from ingest.readers import RawTable, Unreadable, iter_nonempty
from ingest.values import NUMERIC, BadValue, decimal_mark, find_year, find_year_in_filename, fold, parse_cell

HEADER_SCAN_ROWS = 40
ROMAN_RE = re.compile(r"^(?=[ivxlc]+$)m{0,3}(c[md]|d?c{0,3})(x[cl]|l?x{0,3})(i[xv]|v?i{0,3})$")
TOTAL_WORDS = ("tong cong", "tong so", "cong", "toan tinh", "toan huyen", "total", "tong")
FOOTER_WORDS = ("ghi chu", "nguon", "nguoi lap", "nguoi lap bieu", "giam doc", "thu truong", "note", "source")


@dataclass
class Issue:
    row: int | None
    column: str | None
    value: Any
    vi: str
    en: str
    fix_vi: str
    fix_en: str


@dataclass
class ParsedTable:
    records: list[dict[str, Any]] = field(default_factory=list)   # typed rows, with _row_number
    issues: list[Issue] = field(default_factory=list)              # rows quarantined, with reasons
    ignored_columns: list[str] = field(default_factory=list)
    header_row: int | None = None


def _cell_text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _header_candidates(table: RawTable) -> list[tuple[int, list[str]]]:
    """The first rows, with merged header cells spread over the columns they cover."""
    rows = table.rows[:HEADER_SCAN_ROWS]
    texts = {n: [_cell_text(c) for c in cells] for n, cells in rows}
    for row, first, last, value in table.merged:
        if row in texts:
            line = texts[row]
            line.extend([""] * (last + 1 - len(line)))
            for col in range(first, last + 1):
                line[col] = _cell_text(value)
    return [(n, texts[n]) for n, _ in rows]


def locate_header(table: RawTable, contract: Contract) -> tuple[int, int, dict[int, str], list[str]]:
    """Return (first header row, last header row, {column index: canonical name}, ignored headers)."""
    aliases = contract.alias_index
    candidates = _header_candidates(table)
    best: tuple[int, int, dict[int, str], list[str]] | None = None
    for i, (number, top) in enumerate(candidates):
        for depth in (1, 2):
            if depth == 2 and i + 1 >= len(candidates):
                continue
            sub = candidates[i + 1][1] if depth == 2 else []
            mapping: dict[int, str] = {}
            ignored: list[str] = []
            for col in range(max(len(top), len(sub))):
                parent = top[col] if col < len(top) else ""
                child = sub[col] if col < len(sub) else ""
                options = [f"{parent} {child}", child, parent] if child else [parent]
                name = next((aliases[fold(o)] for o in options if o and fold(o) in aliases), None)
                if name and name not in mapping.values():
                    mapping[col] = name
                elif name:
                    raise Unreadable(
                        f"Cột '{name}' xuất hiện hai lần (cột {col + 1})",
                        f"Column '{name}' appears twice (column {col + 1})",
                        "Xóa cột trùng, mỗi chỉ tiêu chỉ một cột", "Remove the duplicate column: one column per indicator")
                elif parent or child:
                    ignored.append(" / ".join(x for x in (parent, child) if x))
            if best is None or len(mapping) > len(best[2]):
                best = (number, candidates[i + depth - 1][0], mapping, ignored)
    if best is None or len(best[2]) < 2:
        raise Unreadable(
            "Không tìm thấy dòng tiêu đề cột phù hợp với biểu mẫu", "No header row matching the dataset's form was found",
            "Dùng đúng tên cột của biểu mẫu: " + "; ".join(c.aliases[0] for c in contract.columns if c.aliases),
            "Use the form's column headers: " + "; ".join(c.aliases[-1] for c in contract.columns if c.aliases))
    return best


def _is_column_number_row(cells: list[Any]) -> bool:
    values = [_cell_text(c) for c in cells if _cell_text(c)]
    return bool(values) and all(re.fullmatch(r"\(?[A-Za-z0-9]{1,3}\)?", v) for v in values) and \
        any(v.isalpha() for v in values)


def period_from_context(table: RawTable, header_row: int, path: Path) -> int | None:
    for number, cells in table.rows:
        if number >= header_row:
            break
        for cell in cells:
            if isinstance(cell, str) and (year := find_year(cell)):
                return year
    return find_year_in_filename(path.name)


def file_columns(rows: list[tuple[int, list[Any]]], last_header_row: int, mapping: dict[int, str],
                 contract: Contract) -> dict[int, Column]:
    """The contract's columns as this file writes them: each number column with the decimal mark
    its cells below the header use (`values.decimal_mark`)."""
    columns = {}
    for index, name in mapping.items():
        col = contract.column(name)
        if col.type in NUMERIC:
            cells = (cells[index] for number, cells in rows if number > last_header_row and index < len(cells))
            col = replace(col, decimal=decimal_mark(cells))
        columns[index] = col
    return columns


def parse_table(table: RawTable, contract: Contract, path: Path) -> ParsedTable:
    first, last, mapping, ignored = locate_header(table, contract)
    out = ParsedTable(ignored_columns=ignored, header_row=first)
    columns = file_columns(table.rows, last, mapping, contract)

    missing = [c for c in contract.columns if c.required and c.name not in mapping.values()]
    if missing:
        raise Unreadable(
            "Thiếu cột bắt buộc: " + ", ".join(f"'{c.aliases[0]}'" for c in missing),
            "Missing required columns: " + ", ".join(f"'{c.aliases[-1]}'" for c in missing),
            "Thêm cột với một trong các tên: " + " | ".join(", ".join(c.aliases[:3]) for c in missing),
            "Add the column under one of these headers: " + " | ".join(", ".join(c.aliases[:3]) for c in missing))

    default_year = None
    if "year" in contract.column_names and "year" not in mapping.values():
        default_year = period_from_context(table, first, path)
        if default_year is None:
            raise Unreadable(
                "Không xác định được năm số liệu", "The reference year could not be found",
                "Thêm cột 'Năm', hoặc ghi 'NĂM 2023' trong tiêu đề biểu, hoặc đặt năm trong tên tệp",
                "Add a 'Năm' column, or write 'NĂM 2023' in the sheet title, or put the year in the file name")

    measure_cols = [i for i, n in mapping.items() if n not in ("unit_name", "unit_code", "year")]
    name_col = next((i for i, n in mapping.items() if n == "unit_name"), None)
    group: str | None = None

    for number, cells in iter_nonempty(table.rows):
        if number <= last or _is_column_number_row(cells):
            continue
        texts = [_cell_text(c) for c in cells]
        first_text = fold(next((t for t in texts if t), ""))
        if any(first_text.startswith(w) for w in FOOTER_WORDS):
            break  # footnotes and signature block: nothing after is data
        name = fold(texts[name_col]) if name_col is not None and name_col < len(texts) else ""
        has_values = any(i < len(cells) and texts[i] for i in measure_cols)
        stt = fold(texts[0]) if texts else ""
        if ROMAN_RE.match(stt) and not has_values:
            group = next((t for t in texts[1:] if t), None)  # group row naming a district: context
            continue
        if any(name == w or name.startswith(w + " ") for w in TOTAL_WORDS) and not stt.isdigit():
            continue  # total row
        if not has_values and not name:
            continue

        record: dict[str, Any] = {"_row_number": number, "_group": group}
        row_issues: list[Issue] = []
        for col, spec in columns.items():
            canonical = spec.name
            if spec.personal:
                continue  # personal data stays in the raw file only
            raw = cells[col] if col < len(cells) else None
            try:
                value = parse_cell(spec.type, raw, spec.width, spec.decimal)
                _check(spec, value)
            except BadValue as bad:
                row_issues.append(Issue(number, canonical, raw, bad.vi, bad.en, bad.fix_vi, bad.fix_en))
                value = None
            record[canonical] = spec.default if value is None and spec.default is not None else value
        for spec in contract.stored_columns:
            if spec.default is not None and record.get(spec.name) is None:
                record[spec.name] = spec.default
        if default_year is not None:
            record["year"] = default_year
        for spec in contract.stored_columns:
            if spec.required and record.get(spec.name) is None and not any(i.column == spec.name for i in row_issues):
                row_issues.append(Issue(number, spec.name, None, f"Thiếu giá trị bắt buộc '{spec.aliases[0]}'",
                                        f"Required value '{spec.aliases[-1]}' is missing",
                                        "Điền giá trị vào ô này", "Fill in this cell"))
        if row_issues:
            out.issues.extend(row_issues)
        else:
            out.records.append(record)
    return out


def hold_back_duplicate_keys(parsed: ParsedTable, keys: tuple[str, ...]) -> None:
    """A second row with the same key (unit and period) is held back, pointing at the first."""
    seen: dict[tuple, int] = {}
    kept = []
    for record in parsed.records:
        key = tuple(record.get(k) for k in keys)
        if key in seen:
            parsed.issues.append(Issue(record["_row_number"], ",".join(keys), "/".join(map(str, key)),
                                       f"Trùng khóa với dòng {seen[key]}", f"Same key as row {seen[key]}",
                                       "Mỗi đơn vị chỉ một dòng cho mỗi kỳ; xóa dòng trùng",
                                       "One row per unit and period: remove the duplicate"))
        else:
            seen[key] = record["_row_number"]
            kept.append(record)
    parsed.records = kept


def _check(spec, value: Any) -> None:
    if value is None:
        return
    if spec.range:
        low, high = spec.range
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-∞'}–{high if high is not None else '∞'}"
            raise BadValue(f"Giá trị {value:g} nằm ngoài khoảng cho phép {bounds}",
                           f"Value {value:g} is outside the allowed range {bounds}",
                           f"Kiểm tra lại số liệu; giá trị phải trong khoảng {bounds}",
                           f"Check the figure; it must be within {bounds}")
    if spec.allowed and value not in spec.allowed:
        raise BadValue(f"Giá trị '{value}' không thuộc danh sách cho phép", f"Value '{value}' is not an allowed value",
                       "Dùng một trong: " + ", ".join(spec.allowed), "Use one of: " + ", ".join(spec.allowed))
