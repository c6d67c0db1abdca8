"""Turn a department's file into rows of raw cells, whatever its format or encoding.

Every reader yields `(row_number, cells)` where row_number is what the department sees
(the Excel row, the CSV line) so that reports can point at it.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ingest.values import BadValue, nfc

SUPPORTED = {".csv", ".txt", ".xlsx", ".json", ".jsonl"}


class Unreadable(BadValue):
    """The whole file cannot be read: the report says why and what to do."""


@dataclass
class RawTable:
    rows: list[tuple[int, list[Any]]]
    # (row, first column, last column, value) of merged header cells, so a parent header can
    # be spread over the columns it covers. Only Excel has them.
    merged: list[tuple[int, int, int, Any]]
    encoding: str | None = None


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 (Excel's 'Unicode text'), or
    Windows-1258; the result is NFC (Windows-1258 stores tone marks as combining characters)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return nfc(data[3:].decode("utf-8")), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return nfc(data.decode("utf-16")), "utf-16"
    try:
        return nfc(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return nfc(data.decode("cp1258")), "cp1258"
    except UnicodeDecodeError as err:
        raise Unreadable(
            "Không đọc được bảng mã của tệp", "The file's text encoding could not be read",
            "Lưu lại tệp dạng CSV UTF-8 (Excel: Lưu thành > CSV UTF-8)",
            "Save the file again as CSV UTF-8 (Excel: Save As > CSV UTF-8)") from err


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_score = ",", -1
    for delim in (",", ";", "\t", "|"):
        counts = [len(next(csv.reader([line], delimiter=delim))) for line in lines]
        if not counts:
            continue
        # The delimiter that splits most lines into the same number (> 1) of fields.
        score = max(counts.count(n) for n in set(counts)) if max(counts) > 1 else 0
        if score > best_score or (score == best_score and max(counts) > 1 and delim == ";"):
            best, best_score = delim, score
    return best


def read_csv(path: Path) -> RawTable:
    text, encoding = decode_text(path.read_bytes())
    delimiter = _sniff_delimiter(text[:20000])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [(reader.line_num, cells) for cells in reader]
    return RawTable(rows=rows, merged=[], encoding=encoding)


def read_xlsx(path: Path) -> RawTable:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as err:
        raise Unreadable("Tệp Excel bị hỏng hoặc không phải định dạng .xlsx", "The Excel file is damaged or not .xlsx",
                         "Mở tệp bằng Excel và lưu lại dạng .xlsx", "Open the file in Excel and save it again as .xlsx") from err
    sheet = workbook.worksheets[0]
    rows = [(i, list(cells)) for i, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
    merged = [(r.min_row, r.min_col - 1, r.max_col - 1, sheet.cell(r.min_row, r.min_col).value)
              for r in sheet.merged_cells.ranges]
    return RawTable(rows=rows, merged=merged)


def read_json(path: Path) -> RawTable:
    text, encoding = decode_text(path.read_bytes())
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            records = data if isinstance(data, list) else next(
                (v for v in data.values() if isinstance(v, list)), [data])
    except json.JSONDecodeError as err:
        raise Unreadable(f"JSON không hợp lệ (dòng {err.lineno})", f"Invalid JSON (line {err.lineno})",
                         "Kiểm tra lại cú pháp JSON", "Check the JSON syntax") from err
    header: list[str] = []
    for record in records:
        for key in record if isinstance(record, dict) else []:
            if key not in header:
                header.append(key)
    rows = [(1, header)] + [(i, [r.get(k) for k in header]) for i, r in enumerate(records, start=1)
                            if isinstance(r, dict)]
    return RawTable(rows=rows, merged=[], encoding=encoding)


def read_file(path: Path) -> RawTable:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"Định dạng tệp '{suffix}' không được hỗ trợ", f"File type '{suffix}' is not supported",
                         "Gửi tệp CSV, Excel (.xlsx) hoặc JSON", "Send a CSV, Excel (.xlsx) or JSON file")
    if suffix == ".xlsx":
        return read_xlsx(path)
    if suffix in (".json", ".jsonl"):
        return read_json(path)
    return read_csv(path)


def iter_nonempty(rows: list[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    for number, cells in rows:
        if any(c not in (None, "") and str(c).strip() for c in cells):
            yield number, cells
