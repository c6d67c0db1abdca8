"""The Excel download (XLSX) of a published table, for spreadsheet users: it opens the same in
Excel and LibreOffice whatever their import settings, which the CSV cannot promise (a unit code
`00001` read as the number 1, an indicator code `8.1` as a number, an English label as a date).

- Sheet "Dữ liệu" (data): the CSV's columns in the CSV's order (`files.published_order`), one header
  row whose cells give each column's label in Vietnamese, then, on a second line of the same cell,
  in English (the label alone when both are the same); text stored as text (codes keep their
  zeros), numbers as numbers, dates as dates, true/false as booleans. Text cells are neutralised
  against formula injection exactly as in the CSV (`files.neutralise`). A table longer than a
  sheet goes on in "Dữ liệu (2)", … with the same header.
- Sheet "Từ điển dữ liệu" (data dictionary): each column's name (as in the CSV and the API), label,
  type and description in both languages: the DataStore's data dictionary (`datastore.fields_for`).

Written with openpyxl in write-only mode, rows streamed from the Parquet file batch by batch."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from publish.datapackage import field_type
from publish.datastore import fields_for
from publish.files import iter_rows, neutralise

DATA_SHEET = "Dữ liệu"
DICTIONARY_SHEET = "Từ điển dữ liệu"
SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header's included

DESCRIPTION = (
    "Bảng tính Excel (XLSX), mở được bằng Excel và LibreOffice mà không cần chọn gì: mã lưu dạng văn bản "
    "(giữ số 0 đứng đầu), số là số, ngày là ngày; dòng tiêu đề ghi tên cột bằng tiếng Việt, dòng dưới bằng "
    "tiếng Anh; trang thứ hai là từ điển dữ liệu.\n\n"
    "Excel workbook (XLSX) that opens the same in Excel and LibreOffice with no import settings: codes stored "
    "as text (leading zeros kept), numbers as numbers, dates as dates; each header cell gives the column's "
    "Vietnamese name, then its English name below; the second sheet is the data dictionary."
)

# A field's type (datapackage.field_type) in the dictionary's words.
TYPE_WORDS = {
    "string": "văn bản / text",
    "integer": "số nguyên / integer",
    "number": "số / number",
    "boolean": "đúng-sai / true-false",
    "date": "ngày / date",
    "datetime": "ngày giờ / date and time",
}
DICTIONARY_COLUMNS = (
    ("Cột (tên trong CSV và API)", "Column (name in the CSV and the API)", 28),
    ("Tên cột", "Label (Vietnamese)", 32),
    ("Tên cột (tiếng Anh)", "Label (English)", 32),
    ("Kiểu", "Type", 22),
    ("Mô tả", "Description (Vietnamese)", 60),
    ("Mô tả (tiếng Anh)", "Description (English)", 60),
)
# Characters XML 1.0 (so XLSX) cannot hold, as openpyxl refuses them.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def header(label_vi: str, label_en: str) -> str:
    """A header cell: the Vietnamese label, the English one on the line below when it differs."""
    return label_vi if label_en in ("", label_vi) else f"{label_vi}\n{label_en}"


def cell_value(value: Any) -> Any:
    """A value as the sheet stores it: text neutralised as in the CSV (a character XML cannot hold
    becomes U+FFFD), numbers, dates and booleans as themselves; a NaN or infinite number, which a
    sheet cannot hold as a number, as the text the CSV shows; a time zone's date and time in UTC."""
    if isinstance(value, str):
        return _NOT_IN_XML.sub("\ufffd", neutralise(value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, (list, dict, bytes)):
        return cell_value(str(value))
    return value


def write_xlsx(parquet: Path, target: Path, columns: dict[str, dict], primary_key: list[str]) -> Path:
    """The workbook of the mart at `parquet`, with the data dictionary of `columns` (column_docs)."""
    from openpyxl import Workbook

    fields = fields_for(parquet, columns, primary_key)
    arrow = pq.read_schema(parquet)
    types = {f["id"]: field_type(arrow.field(f["id"]).type) for f in fields}
    book = Workbook(write_only=True)
    book.properties.creator = "ntm-lakehouse"
    book.properties.title = target.stem
    rows_left = pq.ParquetFile(parquet).metadata.num_rows
    sheet, room, number = _data_sheet(book, fields, 1, rows_left), SHEET_ROWS - 1, 1
    names = [f["id"] for f in fields]
    for row in iter_rows(parquet):
        if room == 0:
            rows_left -= SHEET_ROWS - 1
            number += 1
            sheet, room = _data_sheet(book, fields, number, rows_left), SHEET_ROWS - 1
        sheet.append([cell_value(row[n]) for n in names])
        room -= 1
    _dictionary_sheet(book, fields, types)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def _header_row(sheet, labels: list[str]) -> list:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    cells = []
    for label in labels:
        cell = WriteOnlyCell(sheet, value=cell_value(label))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    return cells


def _data_sheet(book, fields: list[dict], number: int, rows: int):
    """A data sheet with its header, frozen and filterable, for up to `rows` rows."""
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(DATA_SHEET if number == 1 else f"{DATA_SHEET} ({number})")
    labels = [header(f["info"]["label_translated"]["vi"], f["info"]["label_translated"]["en"]) for f in fields]
    for index, label in enumerate(labels, start=1):
        longest = max(len(line) for line in label.split("\n"))
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 12), 50)
    sheet.freeze_panes = "A2"
    last_row = 1 + min(rows, SHEET_ROWS - 1)
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(fields), 1))}{last_row}"
    sheet.append(_header_row(sheet, labels))
    return sheet


def _dictionary_sheet(book, fields: list[dict], types: dict[str, str]) -> None:
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(DICTIONARY_SHEET)
    for index, (_, _, width) in enumerate(DICTIONARY_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header_row(sheet, [header(vi, en) for vi, en, _ in DICTIONARY_COLUMNS]))
    for field in fields:
        info = field["info"]
        sheet.append(
            [
                cell_value(field["id"]),
                cell_value(info["label_translated"]["vi"]),
                cell_value(info["label_translated"]["en"]),
                TYPE_WORDS[types[field["id"]]],
                cell_value(info["notes_translated"]["vi"]),
                cell_value(info["notes_translated"]["en"]),
            ]
        )
