"""`ntm units resolve`: resolve a CSV of unit names (the seeds are written by `ntm/seeds.py`, not here:
writing dbt seeds is not ingest's work)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ntm_core.units.resolver import resolve

OUTPUT_COLUMNS = ["unit_code", "list_version", "unit_level", "unit_name", "hamlet", "status", "candidates", "reason"]


def resolve_csv(source: Path, target: Path) -> dict[str, int]:
    """Read columns name[, parent, grandparent, code, date]; write them back with the resolution.

    A unit may be at any level (the code's width or the name's type word says which); a hamlet
    written before its commune resolves to the commune, the hamlet in its own column. Streams row by
    row, so the file may be as large as it likes."""
    counts = {"matched": 0, "ambiguous": 0, "not_found": 0}
    with (
        open(source, encoding="utf-8-sig", newline="") as src,
        open(target, "w", encoding="utf-8-sig", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        if not reader.fieldnames or "name" not in reader.fieldnames and "code" not in reader.fieldnames:
            raise ValueError(f"{source}: needs a 'name' (or 'code') column; found {reader.fieldnames}")
        writer = csv.DictWriter(dst, fieldnames=list(reader.fieldnames) + OUTPUT_COLUMNS)
        writer.writeheader()
        for row in reader:
            got = resolve(
                row.get("name"),
                row.get("parent") or None,
                row.get("grandparent") or None,
                row.get("code") or None,
                row.get("date") or None,
                level=None,
            )
            counts[got.status] += 1
            writer.writerow(
                {
                    **row,
                    "unit_code": got.unit_code or "",
                    "list_version": got.list_version or "",
                    "unit_level": got.level or "",
                    "unit_name": got.unit.name if got.unit else "",
                    "hamlet": got.hamlet or "",
                    "status": got.status,
                    "candidates": "; ".join(f"{c.code} {c.path} ({c.list_version})" for c in got.candidates),
                    "reason": got.reason or "",
                }
            )
    return counts


def main(args) -> int:
    if args.units_command == "resolve":
        counts = resolve_csv(args.input, args.output)
        print(f"{args.output}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0 if counts["matched"] == sum(counts.values()) else 1
    print("usage: ntm units resolve (export-seeds: ntm/seeds.py)", file=sys.stderr)
    return 2
