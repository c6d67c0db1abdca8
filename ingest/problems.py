"""What can be wrong with a department's file, as every part of ingest reports it: a whole file that
cannot be read (`Unreadable`), and one line of a report (`Issue`: the row, column and value it is
about, the reason and the fix, in Vietnamese and English). A single cell's problem is a
`values.BadValue`, which becomes an Issue of its row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Unreadable(Exception):
    """The whole file cannot be read: the report says why and what to do."""

    vi: str
    en: str
    fix_vi: str
    fix_en: str


@dataclass
class Issue:
    row: int | None
    column: str | None
    value: Any
    vi: str
    en: str
    fix_vi: str
    fix_en: str
    sheet: str | None = None  # the workbook's sheet the row is on, when the file has several


def file_issue(bad: Unreadable) -> Issue:
    """A whole file's problem as a report's line (no row, no column)."""
    return Issue(None, None, None, bad.vi, bad.en, bad.fix_vi, bad.fix_en)
