"""`ntm units export-seeds`: the dbt seeds written from Python definitions, never edited by hand (a
test compares each with what this writes): the unit lists and the 2025 crosswalk (from the units
core, `ntm_core.units.reference`), the ledger's statuses (`ingest.store`) and the departments'
expected updates (the department registry)."""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.store import write_status_seed
from ntm_core.departments import write_expected_updates_seed
from ntm_core.settings import DBT_SEEDS
from ntm_core.units import reference as ref

SEEDS_DIR = DBT_SEEDS / "admin_units"


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
    """The unit lists and the crosswalk as seeds in `directory`."""
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


def main() -> int:
    """Every seed written from Python, each path printed, then the crosswalk's own checks."""
    for path in [*export_seeds(), write_status_seed(), write_expected_updates_seed()]:
        print(path)
    print(", ".join(f"{k}: {v}" for k, v in ref.crosswalk_checks().items()))
    return 0
