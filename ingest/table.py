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
from ingest.formats import RawTable
from ingest.problems import Issue, Unreadable
from ingest.readers import iter_nonempty
from ingest.values import (
    COMMA,
    DOT,
    NUMERIC,
    BadValue,
    convention,
    decimal_votes,
    find_year,
    find_year_in_filename,
    fold,
    parse_cell,
)

HEADER_SCAN_ROWS = 40
ROMAN_RE = re.compile(r"^(?=[ivxlc]+$)m{0,3}(c[md]|d?c{0,3})(x[cl]|l?x{0,3})(i[xv]|v?i{0,3})$")
TOTAL_WORDS = ("tong cong", "tong so", "cong", "toan tinh", "toan huyen", "total", "tong")
FOOTER_WORDS = ("ghi chu", "nguon", "nguoi lap", "nguoi lap bieu", "giam doc", "thu truong", "note", "source")


@dataclass
class ParsedTable:
    records: list[dict[str, Any]] = field(default_factory=list)  # typed rows, with _row_number
    issues: list[Issue] = field(default_factory=list)  # rows quarantined, with reasons
    # What the department should know although no row was held back for it: columns not recognised,
    # sheets not read, rows with no figure, a column written in another number convention.
    notes: list[Issue] = field(default_factory=list)
    columns_read: list[str] = field(default_factory=list)  # contract columns found, in the file's order
    columns_not_recognised: list[str] = field(default_factory=list)  # header texts matching no column


@dataclass
class FileReading:
    """What reading a file gave, on either ingest path: the rows landed in bronze and those held back."""

    rows_landed: int
    rows_held_back: int
    issues: list[Issue]  # in row order; the report lists the first of them
    bronze: Path | None
    period: str
    problems_per_column: Counter | None = None  # every problem by column, when `issues` holds only the first
    notes: list[Issue] = field(default_factory=list)  # see ParsedTable.notes
    columns_read: list[str] = field(default_factory=list)
    columns_not_recognised: list[str] = field(default_factory=list)


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


# Columns every form has that carry no figure: the row number and the notes.
FORM_COLUMNS = frozenset({"stt", "tt", "so tt", "so thu tu", "no", "ghi chu", "note", "notes"})


def locate_header(table: RawTable, contract: Contract) -> tuple[int, int, dict[int, str], list[tuple[int, str]]]:
    """Return (first header row, last header row, {column index: canonical name}, [(column index,
    header text)] of the headers that match no column of the contract)."""
    aliases = contract.alias_index
    candidates = _header_candidates(table)
    best: tuple[int, int, dict[int, str], list[tuple[int, str]]] | None = None
    for i, (number, top) in enumerate(candidates):
        for depth in (1, 2):
            if depth == 2 and i + 1 >= len(candidates):
                continue
            sub = candidates[i + 1][1] if depth == 2 else []
            mapping: dict[int, str] = {}
            ignored: list[tuple[int, str]] = []
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
                elif (parent or child) and not {fold(parent), fold(child)} <= FORM_COLUMNS | {""}:
                    ignored.append((col, " / ".join(x for x in dict.fromkeys((parent, child)) if x)))
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


_COLUMN_NUMBER_RE = re.compile(r"\(?([A-Za-z]|\d{1,3})\)?")


def _is_column_number_row(cells: list[Any], first_below_header: bool = False) -> bool:
    """A form's row of column numbers under its header: `A B 1 2 3`, `(1) (2) (3)`, or right under
    the header `1 2 3 4` (consecutive)."""
    values = [_cell_text(c) for c in cells if _cell_text(c)]
    if not values or not all(_COLUMN_NUMBER_RE.fullmatch(v) for v in values):
        return False
    numbers = [v.strip("()") for v in values]
    consecutive = len(numbers) >= 3 and all(
        n.isdigit() and int(n) == int(numbers[0]) + i for i, n in enumerate(numbers)
    )
    return (
        any(n.isalpha() for n in numbers)
        or all(v.startswith("(") and v.endswith(")") for v in values)
        or (first_below_header and consecutive)
    )


def period_from_context(table: RawTable, header_row: int, path: Path) -> int | None:
    for number, cells in table.rows:
        if number >= header_row:
            break
        for cell in cells:
            if isinstance(cell, str) and (year := find_year(cell)):
                return year
    return find_year_in_filename(path.name)


def _number_cells(rows, last_header_row: int, index: int):
    return (cells[index] for number, cells in rows if number > last_header_row and index < len(cells))


def column_votes(
    rows: list[tuple[int, list[Any]]], last_header_row: int, mapping: dict[int, str], contract: Contract
) -> dict[int, dict[str, int]]:
    """decimal_votes of each number column's cells below the header (personal columns are never read)."""
    return {
        index: decimal_votes(_number_cells(rows, last_header_row, index))
        for index, name in mapping.items()
        if contract.column(name).type in NUMERIC and not contract.column(name).personal
    }


def file_columns(votes: dict[int, dict[str, int]], mapping: dict[int, str], contract: Contract) -> dict[int, Column]:
    """The contract's columns as this file writes them: every number column with the decimal mark
    the file uses, decided once from the unambiguous cells of all its number columns (`votes`, from
    column_votes: `50.61%` makes `1,802` one thousand eight hundred and two)."""
    mark = convention({m: sum(v[m] for v in votes.values()) for m in (COMMA, DOT)})
    return {
        i: replace(contract.column(name), decimal=mark) if i in votes else contract.column(name)
        for i, name in mapping.items()
    }


def contradicting_columns(votes: dict[int, dict[str, int]], header_row: int, columns: dict[int, Column]) -> list[Issue]:
    """Number columns whose own unambiguous cells mostly use the other decimal mark than the file."""
    notes = []
    for index, own in votes.items():
        col = columns[index]
        other = DOT if col.decimal == COMMA else COMMA
        if own[other] > own[col.decimal]:
            point, other_point = ("," if col.decimal == COMMA else "."), ("." if col.decimal == COMMA else ",")
            notes.append(
                Issue(
                    header_row,
                    col.name,
                    None,
                    f"Cột viết số với dấu thập phân '{other_point}', khác quy ước của tệp (dấu thập phân '{point}')",
                    f"The column writes numbers with '{other_point}' as the decimal mark, unlike the rest of "
                    f"the file ('{point}')",
                    "Viết mọi số trong tệp theo cùng một quy ước",
                    "Write every number of the file the same way",
                )
            )
    return notes


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


def parse_file(tables: list[RawTable], contract: Contract, path: Path) -> ParsedTable:
    """A file's rows: every visible sheet whose header matches the dataset's form, each sheet's rows
    with its name; hidden sheets and sheets with no such header are listed in the notes, not read.
    A file in which no sheet matches is refused with the first sheet's reason."""
    if len(tables) == 1 and not tables[0].hidden:
        parsed = parse_table(tables[0], contract, path)
        for record in parsed.records:
            record["_sheet"] = tables[0].sheet  # None for CSV and JSON
        return parsed
    out, refused = ParsedTable(), []
    for table in tables:
        if table.hidden:
            out.notes.append(sheet_note(table.sheet, None))
            continue
        try:
            part = parse_table(table, contract, path)
        except Unreadable as bad:
            refused.append((table.sheet, bad))
            continue
        for item in (*part.issues, *part.notes):
            item.sheet = table.sheet
        for record in part.records:
            record["_sheet"] = table.sheet
        out.records += part.records
        out.issues += part.issues
        out.notes += part.notes
        out.columns_read += [c for c in part.columns_read if c not in out.columns_read]
        out.columns_not_recognised += [c for c in part.columns_not_recognised if c not in out.columns_not_recognised]
    if not out.records and not out.issues:
        raise refused[0][1] if refused else NO_VISIBLE_SHEET
    out.notes += [sheet_note(sheet, bad) for sheet, bad in refused]
    return out


NO_VISIBLE_SHEET = Unreadable(
    "Tệp không có trang tính nào hiển thị",
    "The workbook has no visible sheet",
    "Bỏ ẩn trang tính chứa biểu mẫu rồi lưu lại",
    "Unhide the sheet with the form and save the file again",
)


def sheet_note(sheet: str | None, bad: Unreadable | None) -> Issue:
    """A sheet that was not read: hidden, or with no header of the dataset's form."""
    if bad is None:
        return Issue(
            None,
            None,
            sheet,
            f"Trang tính ẩn '{sheet}' không được đọc",
            f"Hidden sheet '{sheet}' was not read",
            "Nếu trang tính này có số liệu cần gửi, bỏ ẩn rồi gửi lại",
            "If this sheet holds figures to send, unhide it and send the file again",
            sheet=sheet,
        )
    return Issue(
        None,
        None,
        sheet,
        f"Trang tính '{sheet}' không được đọc: {bad.vi}",
        f"Sheet '{sheet}' was not read: {bad.en}",
        bad.fix_vi,
        bad.fix_en,
        sheet=sheet,
    )


def parse_table(table: RawTable, contract: Contract, path: Path) -> ParsedTable:
    first, last, mapping, ignored = locate_header(table, contract)
    out = ParsedTable(
        notes=account_columns(contract, mapping, ignored, last),
        columns_read=list(mapping.values()),
        columns_not_recognised=[text for _, text in ignored],
    )
    votes = column_votes(table.rows, last, mapping, contract)
    columns = file_columns(votes, mapping, contract)
    out.notes += contradicting_columns(votes, last, columns)

    check_required_columns(contract, mapping)
    default_year = file_year(table, contract, mapping, first, path)

    group: str | None = None
    level: str | None = None
    another_table: int | None = None
    first_below_header = True

    for number, cells in iter_nonempty(table.rows):
        if number <= last:
            continue
        if _is_column_number_row(cells, first_below_header):
            continue
        first_below_header = False
        if another_table is None and looks_like_header(cells):
            another_table = number  # a second table's header: it and every row after it are held back
        if another_table is not None:
            out.issues.append(another_table_issue(number, another_table))
            continue
        kind = row_kind(cells, mapping)
        if kind == "footer":
            break  # footnotes and signature block: nothing after is data
        if kind == "group":
            # 'I. Cấp tỉnh' sets the level of the rows below it; 'II. Huyện Cao Lãnh' their district.
            text = next((t for t in map(_cell_text, cells[1:]) if t), None)
            level, group = (level_of(text), None) if is_level_text(text) else (level, text)
            continue
        if kind != "data":
            continue  # a total row, or one with neither a unit nor a value
        record, row_issues = read_row(number, cells, columns, contract, default_year, group)
        if level:
            record["_level"] = level
        if row_issues:
            out.issues.extend(row_issues)
        else:
            out.records.append(record)
            if (empty := empty_figures_note(record, contract)) is not None:
                out.notes.append(empty)
    return out


# The words of a form's level and group rows ('I. Cấp tỉnh', 'B. Khối xã'), folded.
LEVEL_WORDS = {"cap tinh": "province", "cap huyen": "district", "cap xa": "commune"}
GROUP_WORDS = ("khoi ",)


def is_level_text(text: str | None) -> bool:
    key = fold(text or "")
    return key in LEVEL_WORDS or key.startswith(GROUP_WORDS)


def level_of(text: str | None) -> str | None:
    return LEVEL_WORDS.get(fold(text or ""))


def account_columns(
    contract: Contract, mapping: dict[int, str], ignored: list[tuple[int, str]], header_row: int
) -> list[Issue]:
    """Every header of the file is a contract column or is reported; a file none of whose figure
    columns is recognised is refused (its rows would land empty)."""
    figures = contract.figure_columns
    if figures and not any(c.name in mapping.values() for c in figures):
        headers = "; ".join(text for _, text in ignored) or "—"
        raise Unreadable(
            f"Không nhận ra cột số liệu nào của biểu mẫu (các cột không nhận ra: {headers})",
            f"None of the form's figure columns was recognised (columns not recognised: {headers})",
            "Dùng đúng tên cột của biểu mẫu: " + "; ".join(c.aliases[0] for c in figures if c.aliases),
            "Use the form's column headers: " + "; ".join(c.aliases[-1] for c in figures if c.aliases),
        )
    return [unrecognised_column_note(header_row, column, text, contract) for column, text in ignored]


def unrecognised_column_note(header_row: int, column: int, text: str, contract: Contract) -> Issue:
    closest = closest_headers(text, contract)
    offer_vi = f"; tên gần nhất được chấp nhận: {' | '.join(closest)}" if closest else ""
    offer_en = f"; closest accepted headers: {' | '.join(closest)}" if closest else ""
    return Issue(
        header_row,
        None,
        text,
        f"Cột không nhận ra (cột {column + 1}): '{text}', số liệu của cột không được đọc",
        f"Column not recognised (column {column + 1}): '{text}'; its cells were not read",
        "Đổi tên cột theo biểu mẫu" + offer_vi,
        "Rename the column as the form names it" + offer_en,
    )


def closest_headers(text: str, contract: Contract, limit: int = 3) -> list[str]:
    """The accepted headers nearest to `text`, compared folded (case, diacritics, punctuation aside)."""
    from difflib import get_close_matches

    by_key = {fold(alias): alias for col in contract.columns for alias in col.aliases}
    return [by_key[k] for k in get_close_matches(fold(text), list(by_key), n=limit, cutoff=0.6)]


def empty_figures_note(record: dict[str, Any], contract: Contract) -> Issue | None:
    """A landed row with every figure column empty says nothing: the department is told."""
    figures = contract.figure_columns
    if not figures or any(record.get(c.name) is not None for c in figures):
        return None
    return Issue(
        record["_row_number"],
        None,
        None,
        "Dòng không có số liệu nào (mọi cột số liệu đều trống)",
        "The row has no figure (every figure column is blank)",
        "Điền số liệu, hoặc xóa dòng nếu đơn vị không thuộc báo cáo",
        "Fill in the figures, or delete the row if the unit is not part of the report",
    )


def row_kind(cells: list[Any], mapping: dict[int, str]) -> str:
    """What a row below the header is: data, or a form's footer (notes, signatures: nothing after
    is data), group row (I, II, A … naming a district or a level such as 'Cấp tỉnh'), total row, or a
    row with no unit and no value."""
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
    if not has_values and (ROMAN_RE.match(stt) or is_level_text(next((t for t in texts[1:] if t), ""))):
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
    """A second row with the same key (unit and period) is held back, pointing at the first; in a
    workbook, a row of a later sheet replaces the earlier sheet's row, which is reported."""
    seen: dict[tuple, dict] = {}
    for record in parsed.records:
        key = tuple(record.get(k) for k in keys)
        first = seen.get(key)
        if first is None:
            seen[key] = record
        elif first.get("_sheet") != record.get("_sheet"):
            parsed.notes.append(replaced_by_later_sheet(first, record, keys, "/".join(map(str, key))))
            seen[key] = record
        else:
            issue = duplicate_issue(record["_row_number"], keys, "/".join(map(str, key)), first["_row_number"])
            issue.sheet = record.get("_sheet")
            parsed.issues.append(issue)
    kept = {id(r) for r in seen.values()}
    parsed.records = [r for r in parsed.records if id(r) in kept]


def replaced_by_later_sheet(earlier: dict, later: dict, keys: tuple[str, ...], key_text: str) -> Issue:
    where = f"{later['_row_number']} ('{later.get('_sheet')}')"
    return Issue(
        earlier["_row_number"],
        ",".join(keys),
        key_text,
        f"Cùng khóa với dòng {where} của trang tính sau; dòng của trang sau được nhận",
        f"Same key as row {where} of a later sheet; the later sheet's row is the one kept",
        "Mỗi đơn vị chỉ một dòng cho mỗi kỳ trong cả tệp; xóa dòng không còn đúng",
        "One row per unit and period in the whole file: delete the row that is no longer right",
        sheet=earlier.get("_sheet"),
    )


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
