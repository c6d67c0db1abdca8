"""Files for the public: CSV that Excel opens correctly, with no cell a spreadsheet would execute."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# A cell starting like this is run as a formula by spreadsheets (OWASP CSV injection). Only a cell
# that is a negative number as a whole (-5, -0,5, -1.797) keeps its "-": `-2+3+cmd|...` does not.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEGATIVE_NUMBER = re.compile(r"-\d+(?:[.,]\d+)*")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NEGATIVE_NUMBER.fullmatch(value):
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
