"""Files for the public: CSV that Excel opens correctly, with no cell a spreadsheet would execute."""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# A cell starting like this is run as a formula by spreadsheets (OWASP CSV injection). Only a cell
# that is a negative number as a whole (-5, -0,5, -1.797) keeps its "-": `-2+3+cmd|...` does not.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEGATIVE_NUMBER = re.compile(r"-\d+(?:[.,]\d+)*")


def _formula(text: str) -> bool:
    return text.startswith(_FORMULA_START) and not _NEGATIVE_NUMBER.fullmatch(text)


def _as_seen(text: str) -> str:
    """The text as a spreadsheet may take it: without invisible format characters (zero-width
    spaces and joiners, word joiner, BOM, bidirectional marks: Unicode's Cf) and in NFKC, where
    full-width and small forms are their ASCII selves (`＝` and `﹦` are `=`, `－` is `-`)."""
    return unicodedata.normalize("NFKC", "".join(c for c in text if unicodedata.category(c) != "Cf"))


def _formula_as_seen(text: str) -> bool:
    """Whether `_as_seen(text)` is a formula. Its first character comes from the first visible one
    (a following mark can only compose it into a letter that is no formula sign), so the whole text
    is normalised only when that one character normalises to a formula sign: rarely."""
    first = next((c for c in text if unicodedata.category(c) != "Cf"), "")
    return unicodedata.normalize("NFKC", first).startswith(_FORMULA_START) and _formula(_as_seen(text))


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, as written but for a leading `'`. It is
    decided on the text as written and as a spreadsheet may see it (`_as_seen`), so a formula
    disguised by full-width signs or invisible characters is caught too."""
    if not isinstance(value, str) or not value:
        return value
    # Text starting with an ASCII character is seen as written (format characters are not ASCII).
    if _formula(value) or (value[0] >= "\x80" and _formula_as_seen(value)):
        return "'" + value
    return value


def iter_rows(parquet: Path, batch_size: int = 50_000) -> Iterator[dict[str, Any]]:
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=batch_size):
        yield from batch.to_pylist()


# Keys and lineage a reader does not look for first: published after the human columns (names,
# periods, values), in the mart's order. The Parquet resource keeps the mart's own order.
KEYS_LAST = (
    "unit_key",
    "unit_code",
    "unit_level",
    "unit_list_version",
    "province_code",
    "current_unit_key",
    "current_province_code",
    "province_unit_key",
    "criterion_key",
    "department",
)


def published_order(names: list[str]) -> list[str]:
    """The order of a published table's columns (CSV, DataStore, data package)."""
    return [n for n in names if n not in KEYS_LAST] + [n for n in names if n in KEYS_LAST]


# How to open the CSV, on its resource (the dataset page lists it under the file's name).
CSV_DESCRIPTION = (
    "CSV, UTF-8 có BOM, phân cách bằng dấu phẩy. Excel: mở trực tiếp hiện đúng tiếng Việt nhưng có thể làm mất "
    "số 0 đứng đầu của mã (00001 thành 1) và đổi mã dạng 8.1 thành số; để giữ nguyên, dùng Dữ liệu > Từ "
    "Văn bản/CSV và đặt các cột mã là Văn bản. LibreOffice: chọn bộ ký tự Unicode (UTF-8), dấu phân cách là "
    'dấu phẩy, đặt các cột mã là Văn bản và bỏ chọn "Phát hiện số đặc biệt". Tệp Excel (XLSX) của bộ dữ '
    "liệu mở đúng mà không cần các bước này.\n\n"
    "CSV, UTF-8 with BOM, comma-separated. Excel shows Vietnamese correctly when the file is opened directly "
    "but may drop the leading zeros of codes (00001 becomes 1) and turn codes such as 8.1 into numbers; to "
    "keep them, use Data > From Text/CSV and set the code columns to Text. LibreOffice: choose the character "
    'set Unicode (UTF-8), comma as separator, set the code columns to Text and untick "Detect special '
    "numbers\". The dataset's Excel file (XLSX) opens correctly without these steps."
)


def write_csv(parquet: Path, target: Path) -> Path:
    """UTF-8 with BOM, so Excel shows Vietnamese correctly; streamed batch by batch."""
    columns = published_order(pq.ParquetFile(parquet).schema_arrow.names)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in iter_rows(parquet):
            writer.writerow(["" if row[c] is None else neutralise(row[c]) for c in columns])
    return target


def content_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
