"""What ingest reads: the file types it takes, the limits of a table, and a table as read (before
the dataset's contract is applied). At the bottom of ingest: it imports nothing of the project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUPPORTED = {".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods", ".json", ".jsonl"}
WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods")  # read by ingest.workbooks
STREAMED = (".xlsx", ".xlsm")  # large ones streamed into a CSV for the DuckDB path
MAX_COLUMNS = 500


@dataclass
class RawTable:
    rows: list[tuple[int, list[Any]]]
    # (row, first column, last column, value) of merged header cells, so a parent header can
    # be spread over the columns it covers. Only workbooks have them.
    merged: list[tuple[int, int, int, Any]]
    sheet: str | None = None  # a workbook's sheet name
    hidden: bool = False  # a hidden sheet, which the department does not see
