"""Give every landed row its official unit: the resolver's answer, or a held-back row whose report
lists the candidates."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingest.table import Issue
from ingest.units.resolver import resolve

DEPARTMENTS = Path(__file__).resolve().parents[1] / "departments.yaml"


@lru_cache(maxsize=1)
def departments() -> dict[str, dict]:
    return yaml.safe_load(DEPARTMENTS.read_text(encoding="utf-8")) or {}


def province_of(department: str) -> str | None:
    return departments().get(department, {}).get("province")


def resolve_records(records: list[dict[str, Any]], department: str) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Rows with `unit_code` and `unit_list_version` set from the official lists, and the issues of
    the rows that could not be resolved (with candidates)."""
    province = province_of(department)
    kept, issues = [], []
    for record in records:
        year = record.get("year")
        got = resolve(record.get("unit_name"), parent=record.get("_group"), grandparent=province,
                      code=record.get("unit_code"), date=f"{year}-12-31" if year else None)
        if got.status == "matched":
            record["unit_code"] = got.unit.code
            record["unit_list_version"] = got.unit.list_version
            kept.append(record)
            continue
        written = " / ".join(str(v) for v in (record.get("unit_name"), record.get("unit_code")) if v)
        options = "; ".join(f"{c.code} {c.path}" for c in got.candidates[:5])
        if got.status == "ambiguous":
            vi, en = f"Tên/mã đơn vị '{written}' khớp nhiều đơn vị", f"Unit '{written}' fits several units"
        else:
            vi, en = f"Không tìm thấy đơn vị '{written}' trong danh mục", f"Unit '{written}' is not in the official list"
        issues.append(Issue(
            record["_row_number"], "unit_name", written, f"{vi} ({got.reason})", f"{en} ({got.reason})",
            ("Ghi đúng tên và mã ĐVHC theo danh mục; các đơn vị gần nhất: " + options) if options
            else "Ghi đúng tên và mã ĐVHC theo danh mục của Tổng cục Thống kê",
            ("Write the official unit name and code; closest units: " + options) if options
            else "Write the official unit name and code (General Statistics Office list)"))
    return kept, issues
