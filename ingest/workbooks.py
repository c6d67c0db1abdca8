"""Workbooks (.xlsx, .xlsm, .xls, .ods) read as the department's spreadsheet program shows them.

Every sheet comes back with its name and whether it is hidden (the caller decides which to read);
a cell formatted as a percentage is a `PercentCell` (its value is the fraction Excel stores: 70,1 %
is 0.701); date cells are dates; a value merged over several rows stands in each row it covers
(merged header cells are also listed, to be spread over the columns they cover).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ingest.formats import MAX_COLUMNS, RawTable
from ingest.problems import Unreadable
from ingest.safety import check_control_cells, check_control_text
from ingest.values import PercentCell

# (first row, first column, last row, last column, value): rows count from 1, columns from 0.
Merge = tuple[int, int, int, int, Any]


def read_workbook(path: Path) -> list[RawTable]:
    suffix = path.suffix.lower()
    reader = {".xls": _read_xls, ".ods": _read_ods}.get(suffix, _read_xlsx)
    try:
        sheets = list(reader(path))
    except Unreadable:
        raise
    except Exception as err:
        raise _damaged(suffix) from err
    for sheet in sheets:
        check_control_cells(sheet.rows)
    return sheets


def _damaged(suffix: str) -> Unreadable:
    return Unreadable(
        f"Tệp bảng tính bị hỏng hoặc không phải định dạng {suffix}",
        f"The spreadsheet is damaged or not {suffix}",
        "Mở tệp bằng Excel hoặc LibreOffice và lưu lại dạng .xlsx",
        "Open the file in Excel or LibreOffice and save it again as .xlsx",
    )


def _too_wide(columns: int, sheet: str) -> Unreadable:
    return Unreadable(
        f"Trang tính '{sheet}' có {columns} cột (tối đa {MAX_COLUMNS})",
        f"Sheet '{sheet}' has {columns} columns (at most {MAX_COLUMNS})",
        "Xóa các cột thừa, chỉ giữ biểu mẫu",
        "Delete the extra columns; keep just the form",
    )


def sheet_table(name: str, hidden: bool, rows: list[tuple[int, list[Any]]], merges: list[Merge]) -> RawTable:
    """A sheet as a RawTable: each merged value written into every row its range covers (in the range's
    first column); ranges over several columns listed row by row, for the header to spread."""
    by_number = {number: cells for number, cells in rows}
    spread = []
    for first_row, first_col, last_row, last_col, value in merges:
        for number in range(first_row, last_row + 1):
            if number > first_row and number in by_number:
                cells = by_number[number]
                cells.extend([None] * (first_col + 1 - len(cells)))
                cells[first_col] = value
            if last_col > first_col:
                spread.append((number, first_col, last_col, value))
    return RawTable(rows=rows, merged=spread, sheet=name, hidden=hidden)


def _read_xlsx(path: Path) -> Iterator[RawTable]:
    """Excel 2007+ (.xlsx, and .xlsm whose macros are never run or kept), with openpyxl."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, data_only=True, keep_links=False)
    for sheet in workbook.worksheets:
        if sheet.max_column > MAX_COLUMNS:
            raise _too_wide(sheet.max_column, sheet.title)
        rows = [(i, [_xlsx_value(c) for c in cells]) for i, cells in enumerate(sheet.iter_rows(), start=1)]
        merges = [
            (r.min_row, r.min_col - 1, r.max_row, r.max_col - 1, _xlsx_value(sheet.cell(r.min_row, r.min_col)))
            for r in sheet.merged_cells.ranges
        ]
        yield sheet_table(sheet.title, sheet.sheet_state != "visible", rows, merges)


def _xlsx_value(cell) -> Any:
    value = cell.value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "%" in (cell.number_format or ""):
        return PercentCell(value)
    return value


def _read_xls(path: Path) -> Iterator[RawTable]:
    """Excel 97-2003 (.xls), still sent by older office software, with xlrd."""
    import xlrd

    book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            if sheet.ncols > MAX_COLUMNS:
                raise _too_wide(sheet.ncols, sheet.name)
            value = _xls_value(book, sheet)
            rows = [(r + 1, [value(r, c) for c in range(sheet.row_len(r))]) for r in range(sheet.nrows)]
            merges = [(rlo + 1, clo, rhi, chi - 1, value(rlo, clo)) for rlo, rhi, clo, chi in sheet.merged_cells]
            yield sheet_table(sheet.name, sheet.visibility != 0, rows, merges)
            book.unload_sheet(index)
    finally:
        book.release_resources()


def _xls_value(book, sheet):
    import xlrd

    def value(r: int, c: int) -> Any:
        cell = sheet.cell(r, c)
        if cell.ctype == xlrd.XL_CELL_DATE:
            return xlrd.xldate_as_datetime(cell.value, book.datemode).date()
        if cell.ctype == xlrd.XL_CELL_NUMBER:
            number = int(cell.value) if float(cell.value).is_integer() else cell.value
            xf = book.xf_list[sheet.cell_xf_index(r, c)]
            fmt = book.format_map.get(xf.format_key)
            return PercentCell(number) if fmt is not None and "%" in fmt.format_str else number
        if cell.ctype == xlrd.XL_CELL_BOOLEAN:
            return bool(cell.value)
        if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            return None
        return cell.value

    return value


# OpenDocument (.ods): read from its content.xml as a stream of cells. The value type of each cell
# (float, percentage, date …) is in the file; readers that give the values only lose "percentage".
_NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
}


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


# A repeat count beyond this on an empty row or cell is the sheet's unused tail, not data.
_ODS_REPEAT_CAP = 1000


def _read_ods(path: Path) -> Iterator[RawTable]:
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as content:
        hidden_styles: set[str] = set()
        sheet = None
        for event, element in ElementTree.iterparse(content, events=("start", "end")):
            if event == "start":
                if element.tag == _q("table", "table"):
                    style = element.get(_q("table", "style-name"))
                    sheet = _OdsSheet(element.get(_q("table", "name")) or "", style in hidden_styles)
                continue
            tag = element.tag
            if tag == _q("style", "style") and element.get(_q("style", "family")) == "table":
                props = element.find("style:table-properties", _NS)
                if props is not None and props.get(_q("table", "display")) == "false":
                    hidden_styles.add(element.get(_q("style", "name")))
            elif sheet is not None and tag in (_q("table", "table-cell"), _q("table", "covered-table-cell")):
                sheet.cell(element)
                element.clear()
            elif sheet is not None and tag == _q("table", "table-row"):
                sheet.end_row(int(element.get(_q("table", "number-rows-repeated"), "1")))
                element.clear()
            elif tag == _q("table", "table") and sheet is not None:
                yield sheet_table(sheet.name, sheet.hidden, sheet.rows, sheet.merges)
                sheet = None
                element.clear()


class _OdsSheet:
    def __init__(self, name: str, hidden: bool):
        self.name, self.hidden = name, hidden
        self.rows: list[tuple[int, list[Any]]] = []
        self.merges: list[Merge] = []
        self.number = 1
        self.cells: list[Any] = []

    def cell(self, element) -> None:
        repeat = int(element.get(_q("table", "number-columns-repeated"), "1"))
        value = _ods_value(element)
        if value is None and repeat > _ODS_REPEAT_CAP:
            repeat = 0  # the unused columns to the sheet's right edge
        if len(self.cells) + repeat > MAX_COLUMNS and value is not None:
            raise _too_wide(len(self.cells) + repeat, self.name)
        rows_spanned = int(element.get(_q("table", "number-rows-spanned"), "1"))
        columns_spanned = int(element.get(_q("table", "number-columns-spanned"), "1"))
        if rows_spanned > 1 or columns_spanned > 1:
            column = len(self.cells)
            self.merges.append(
                (self.number, column, self.number + rows_spanned - 1, column + columns_spanned - 1, value)
            )
        self.cells.extend([value] * repeat)

    def end_row(self, repeat: int) -> None:
        while self.cells and self.cells[-1] is None:
            self.cells.pop()
        if self.cells:
            for i in range(min(repeat, _ODS_REPEAT_CAP)):
                self.rows.append((self.number + i, list(self.cells)))
        self.number += repeat
        self.cells = []


def _ods_value(element) -> Any:
    kind = element.get(_q("office", "value-type"))
    if kind in ("float", "currency", "percentage"):
        number = float(element.get(_q("office", "value")))
        number = int(number) if number.is_integer() else number
        return PercentCell(number) if kind == "percentage" else number
    if kind == "date":
        return dt.date.fromisoformat(element.get(_q("office", "date-value"))[:10])
    if kind == "boolean":
        return element.get(_q("office", "boolean-value")) == "true"
    text = "\n".join("".join(p.itertext()) for p in element if p.tag.endswith("}p"))
    return text or None


# A large workbook is streamed, never held whole: its one visible sheet is written row by row into a
# UTF-8 CSV that the DuckDB path reads like any large CSV (`ingest.bulk`). Cells are written as the
# spreadsheet shows them, in a form with one reading only: percentages as `70.1%`, dates as
# dd/mm/yyyy, decimals never with exactly three decimals (`1.797` would read as 1797 in a comma
# file: it is written `1.7970`).


def one_visible_sheet(path: Path) -> tuple[str, list[str]] | None:
    """(the visible sheet, the hidden ones) when the workbook has one visible sheet, else None."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        visible = [s.title for s in workbook.worksheets if s.sheet_state == "visible"]
        hidden = [s.title for s in workbook.worksheets if s.sheet_state != "visible"]
        return (visible[0], hidden) if len(visible) == 1 else None
    finally:
        workbook.close()


def stream_sheet_as_csv(path: Path, sheet_name: str, target: Path) -> int:
    """Write the sheet into `target` (UTF-8 CSV), one line per row of the sheet (empty rows too, so a
    line number is the Excel row number); return the number of rows."""
    import csv

    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        sheet = workbook[sheet_name]
        sheet.reset_dimensions()  # a wrong <dimension> in the file must not cut rows or columns
        rows = 0
        with open(target, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            for rows, cells in enumerate(sheet.iter_rows(), start=1):
                if len(cells) > MAX_COLUMNS:
                    raise _too_wide(len(cells), sheet_name)
                line = [_shown(_xlsx_value(c)) if c.value is not None else "" for c in cells]
                for text in line:
                    check_control_text(text, first_line=rows)
                writer.writerow(line)
        return rows
    finally:
        workbook.close()


def _shown(value: Any) -> str:
    if isinstance(value, PercentCell):
        return _decimal(round(float(value) * 100, 10)) + "%"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, (int, float)):
        return _decimal(value)
    return str(value)


def _decimal(number: float) -> str:
    import numpy as np

    if float(number).is_integer():
        return str(int(number))
    text = np.format_float_positional(number, trim="-")
    return text + "0" if len(text.partition(".")[2]) == 3 else text
