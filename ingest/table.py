"""Find the real table inside a department's sheet and read it against the dataset contract.

Report-style forms carry title rows above the header, a two-level header with merged cells,
a column-number row (A, B, 1, 2 …), group rows (I, II … naming a district), a total row,
footnotes and a signature block. Only the rows between the header and the footer that carry
a unit name and at least one value are data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.contract import Column, Contract, all_contracts
from ingest.problems import Issue, Unreadable
from ingest.readers import RawTable, iter_nonempty
from ingest.values import NUMERIC, BadValue, decimal_mark, find_year, find_year_in_filename, fold, parse_cell

HEADER_SCAN_ROWS = 40
ROMAN_RE = re.compile(r"^(?=[ivxlc]+$)m{0,3}(c[md]|d?c{0,3})(x[cl]|l?x{0,3})(i[xv]|v?i{0,3})$")
TOTAL_WORDS = ("tong cong", "tong so", "cong", "toan tinh", "toan huyen", "total", "tong")
FOOTER_WORDS = ("ghi chu", "nguon", "nguoi lap", "nguoi lap bieu", "giam doc", "thu truong", "note", "source")


@dataclass
class ParsedTable:
    records: list[dict[str, Any]] = field(default_factory=list)  # typed rows, with _row_number
    issues: list[Issue] = field(default_factory=list)  # rows quarantined, with reasons


@dataclass
class FileReading:
    """What reading a file gave, on either ingest path: the rows landed in bronze and those held back."""

    rows_landed: int
    rows_held_back: int
    issues: list[Issue]  # in row order; the report lists the first of them
    bronze: Path | None
    period: str
    problems_per_column: Counter | None = None  # every problem by column, when `issues` holds only the first


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
                        "Xóa cột trùng, mỗi chỉ tiêu chỉ một cột",
                        "Remove the duplicate column: one column per indicator",
                    )
                elif parent or child:
                    ignored.append(" / ".join(x for x in (parent, child) if x))
            if best is None or len(mapping) > len(best[2]):
                best = (number, candidates[i + depth - 1][0], mapping, ignored)
    if best is None or len(best[2]) < 2:
        raise Unreadable(
            "Không tìm thấy dòng tiêu đề cột phù hợp với biểu mẫu",
            "No header row matching the dataset's form was found",
            "Dùng đúng tên cột của biểu mẫu: " + "; ".join(c.aliases[0] for c in contract.columns if c.aliases),
            "Use the form's column headers: " + "; ".join(c.aliases[-1] for c in contract.columns if c.aliases),
        )
    return best


def _is_column_number_row(cells: list[Any]) -> bool:
    values = [_cell_text(c) for c in cells if _cell_text(c)]
    return (
        bool(values)
        and all(re.fullmatch(r"\(?[A-Za-z0-9]{1,3}\)?", v) for v in values)
        and any(v.isalpha() for v in values)
    )


def period_from_context(table: RawTable, header_row: int, path: Path) -> int | None:
    for number, cells in table.rows:
        if number >= header_row:
            break
        for cell in cells:
            if isinstance(cell, str) and (year := find_year(cell)):
                return year
    return find_year_in_filename(path.name)


def file_columns(
    rows: list[tuple[int, list[Any]]], last_header_row: int, mapping: dict[int, str], contract: Contract
) -> dict[int, Column]:
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


def check_required_columns(contract: Contract, mapping: dict[int, str]) -> None:
    missing = [c for c in contract.columns if c.required and c.name not in mapping.values()]
    if missing:
        raise Unreadable(
            "Thiếu cột bắt buộc: " + ", ".join(f"'{c.aliases[0]}'" for c in missing),
            "Missing required columns: " + ", ".join(f"'{c.aliases[-1]}'" for c in missing),
            "Thêm cột với một trong các tên: " + " | ".join(", ".join(c.aliases[:3]) for c in missing),
            "Add the column under one of these headers: " + " | ".join(", ".join(c.aliases[:3]) for c in missing),
        )


def file_year(table: RawTable, contract: Contract, mapping: dict[int, str], header_row: int, path: Path) -> int | None:
    """The year of every row when the file has no year column: from the title or the file name."""
    if "year" not in contract.column_names or "year" in mapping.values():
        return None
    year = period_from_context(table, header_row, path)
    if year is None:
        raise Unreadable(
            "Không xác định được năm số liệu",
            "The reference year could not be found",
            "Thêm cột 'Năm', hoặc ghi 'NĂM 2023' trong tiêu đề biểu, hoặc đặt năm trong tên tệp",
            "Add a 'Năm' column, or write 'NĂM 2023' in the sheet title, or put the year in the file name",
        )
    return year


def parse_table(table: RawTable, contract: Contract, path: Path) -> ParsedTable:
    first, last, mapping, _ = locate_header(table, contract)
    out = ParsedTable()
    columns = file_columns(table.rows, last, mapping, contract)

    check_required_columns(contract, mapping)
    default_year = file_year(table, contract, mapping, first, path)

    group: str | None = None
    another_table: int | None = None

    for number, cells in iter_nonempty(table.rows):
        if number <= last or _is_column_number_row(cells):
            continue
        if another_table is None and looks_like_header(cells):
            another_table = number  # a second table's header: it and every row after it are held back
        if another_table is not None:
            out.issues.append(another_table_issue(number, another_table))
            continue
        kind = row_kind(cells, mapping)
        if kind == "footer":
            break  # footnotes and signature block: nothing after is data
        if kind == "group":
            group = next((t for t in map(_cell_text, cells[1:]) if t), None)  # a district's name: context
            continue
        if kind != "data":
            continue  # a total row, or one with neither a unit nor a value
        record, row_issues = read_row(number, cells, columns, contract, default_year, group)
        if row_issues:
            out.issues.extend(row_issues)
        else:
            out.records.append(record)
    return out


def row_kind(cells: list[Any], mapping: dict[int, str]) -> str:
    """What a row below the header is: data, or a form's footer (notes, signatures: nothing after
    is data), group row (I, II … naming a district), total row, or a row with no unit and no value."""
    texts = [_cell_text(c) for c in cells]
    first_text = fold(next((t for t in texts if t), ""))
    if any(first_text.startswith(w) for w in FOOTER_WORDS):
        return "footer"
    name_col = next((i for i, n in mapping.items() if n == "unit_name"), None)
    name = fold(texts[name_col]) if name_col is not None and name_col < len(texts) else ""
    has_values = any(
        i < len(texts) and texts[i] for i, n in mapping.items() if n not in ("unit_name", "unit_code", "year")
    )
    stt = fold(texts[0]) if texts else ""
    if ROMAN_RE.match(stt) and not has_values:
        return "group"
    if any(name == w or name.startswith(w + " ") for w in TOTAL_WORDS) and not stt.isdigit():
        return "total"
    return "data" if has_values or name else "empty"


def read_row(
    number: int,
    cells: list[Any],
    columns: dict[int, Column],
    contract: Contract,
    default_year: int | None = None,
    group: str | None = None,
) -> tuple[dict[str, Any], list[Issue]]:
    """One data row read against the contract: its typed record, and its problems (one per cell at
    most, in column order). Both ingest paths report a row's problems from here."""
    record: dict[str, Any] = {"_row_number": number, "_group": group}
    row_issues: list[Issue] = []
    for col, spec in columns.items():
        if spec.personal:
            continue  # personal data stays in the raw file only
        raw = cells[col] if col < len(cells) else None
        try:
            value = parse_cell(spec.type, raw, spec.width, spec.decimal)
            _check(spec, value)
        except BadValue as bad:
            row_issues.append(Issue(number, spec.name, raw, bad.vi, bad.en, bad.fix_vi, bad.fix_en))
            value = None
        record[spec.name] = spec.default if value is None and spec.default is not None else value
    for spec in contract.stored_columns:
        if spec.default is not None and record.get(spec.name) is None:
            record[spec.name] = spec.default
    if default_year is not None:
        record["year"] = default_year
    for spec in contract.stored_columns:
        if spec.required and record.get(spec.name) is None and not any(i.column == spec.name for i in row_issues):
            row_issues.append(
                Issue(
                    number,
                    spec.name,
                    None,
                    f"Thiếu giá trị bắt buộc '{spec.aliases[0]}'",
                    f"Required value '{spec.aliases[-1]}' is missing",
                    "Điền giá trị vào ô này",
                    "Fill in this cell",
                )
            )
    return record, row_issues


def looks_like_header(cells: list[Any]) -> bool:
    """Whether a row inside the data is the header of a table (this dataset's or another's): two or
    more of its cells, and at least half of its filled cells, are column headers of some contract
    (a data row may hold a word that is also a header, such as 'Huyện' or 'Trực tuyến')."""
    filled = [c for c in cells if c not in (None, "") and str(c).strip()]
    headers = sum(1 for c in filled if isinstance(c, str) and _is_header_text(c))
    return headers >= 2 and 2 * headers >= len(filled)


@lru_cache(maxsize=65536)
def _is_header_text(text: str) -> bool:
    return fold(text) in all_headers()


@lru_cache(maxsize=1)
def all_headers() -> frozenset[str]:
    """Every header alias of every contract, folded (canonical names such as 'year' excepted: data
    cells may hold such words)."""
    return frozenset(
        fold(alias)
        for contract in all_contracts().values()
        for col in contract.columns
        for alias in col.aliases
        if len(fold(alias)) > 3
    )


def another_table_issue(number: int, header_row: int) -> Issue:
    return Issue(
        number,
        None,
        None,
        f"Một bảng khác bắt đầu ở dòng {header_row}; các dòng từ đó không thuộc bộ dữ liệu này",
        f"Another table starts at row {header_row}; its rows do not belong to this dataset",
        "Mỗi tệp một bảng: chuyển bảng thứ hai sang tệp riêng, đặt vào thư mục bộ dữ liệu của nó",
        "One table per file: move the second table to a file of its own, in its dataset's folder",
    )


def hold_back_duplicate_keys(parsed: ParsedTable, keys: tuple[str, ...]) -> None:
    """A second row with the same key (unit and period) is held back, pointing at the first."""
    seen: dict[tuple, int] = {}
    kept = []
    for record in parsed.records:
        key = tuple(record.get(k) for k in keys)
        if key in seen:
            parsed.issues.append(duplicate_issue(record["_row_number"], keys, "/".join(map(str, key)), seen[key]))
        else:
            seen[key] = record["_row_number"]
            kept.append(record)
    parsed.records = kept


def duplicate_issue(row: int, keys: tuple[str, ...], key_text: str, first_row: int) -> Issue:
    return Issue(
        row,
        ",".join(keys),
        key_text,
        f"Trùng khóa với dòng {first_row}",
        f"Same key as row {first_row}",
        "Mỗi đơn vị chỉ một dòng cho mỗi kỳ; xóa dòng trùng",
        "One row per unit and period: remove the duplicate",
    )


def _check(spec, value: Any) -> None:
    if value is None:
        return
    if spec.range:
        low, high = spec.range
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-∞'}–{high if high is not None else '∞'}"
            raise BadValue(
                f"Giá trị {value:g} nằm ngoài khoảng cho phép {bounds}",
                f"Value {value:g} is outside the allowed range {bounds}",
                f"Kiểm tra lại số liệu; giá trị phải trong khoảng {bounds}",
                f"Check the figure; it must be within {bounds}",
            )
    if spec.allowed and value not in spec.allowed:
        raise BadValue(
            f"Giá trị '{value}' không thuộc danh sách cho phép",
            f"Value '{value}' is not an allowed value",
            "Dùng một trong: " + ", ".join(spec.allowed),
            "Use one of: " + ", ".join(spec.allowed),
        )
