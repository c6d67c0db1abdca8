"""`ntm units ...`: resolve a CSV of unit names, and export the unit lists and crosswalk as dbt seeds."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ntm_core.settings import DBT_SEEDS
from ntm_core.units import reference as ref
from ntm_core.units.resolver import resolve

SEEDS_DIR = DBT_SEEDS / "admin_units"
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


def unit_rows() -> list[dict]:
    rows = []
    for u in ref.load_units():
        valid_from, valid_to = ref.VALIDITY[u.list_version]
        rows.append(
            {
                "unit_key": u.key,
                "unit_code": u.code,
                "list_version": u.list_version,
                "level": u.level,
                "unit_type": u.unit_type,
                "unit_name": u.name,
                "short_name": u.short_name,
                "ascii_name": u.ascii_name,
                "parent_key": u.parent_key or "",
                "province_key": u.province_key,
                "valid_from": valid_from or "",
                "valid_to": valid_to or "",
            }
        )
    return sorted(rows, key=lambda r: r["unit_key"])


def crosswalk_rows() -> list[dict]:
    return sorted(
        (
            {
                "old_unit_key": r.old_key,
                "new_unit_key": r.new_key,
                "relation": r.relation,
                "is_main_successor": str(r.is_main_successor).lower(),
                "needs_review": str(r.needs_review).lower(),
                "review_reason": r.review_reason or "",
            }
            for r in ref.build_crosswalk()
        ),
        key=lambda r: (r["old_unit_key"], r["new_unit_key"]),
    )


def export_seeds(directory: Path = SEEDS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in (("admin_units", unit_rows()), ("admin_unit_crosswalk", crosswalk_rows())):
        path = directory / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written


def main(args) -> int:
    if args.units_command == "resolve":
        counts = resolve_csv(args.input, args.output)
        print(f"{args.output}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0 if counts["matched"] == sum(counts.values()) else 1
    if args.units_command == "export-seeds":
        from ingest.store import write_status_seed
        from ntm_core.departments import write_expected_updates_seed

        # the ledger's statuses and the freshness expectations of the department registry ride along
        for path in [*export_seeds(), write_status_seed(), write_expected_updates_seed()]:
            print(path)
        print(", ".join(f"{k}: {v}" for k, v in ref.crosswalk_checks().items()))
        return 0
    print("usage: ntm units resolve|export-seeds", file=sys.stderr)
    return 2
