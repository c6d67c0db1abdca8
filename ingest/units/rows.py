"""Give every landed row its official unit: the resolver's answer, or a held-back row whose report
lists the candidates."""
from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingest.table import Issue
from ingest.units.names import interpretations
from ingest.units.resolver import Resolution, resolve

DEPARTMENTS = Path(__file__).resolve().parents[1] / "departments.yaml"
LEVEL_BY_CODE_WIDTH = {2: "province", 3: "district", 5: "commune"}
LEVEL_BY_TYPE = {"Tỉnh": ["province"], "Thành phố": ["province", "district"], "Huyện": ["district"],
                 "Quận": ["district"], "Thị xã": ["district"], "Xã": ["commune"], "Phường": ["commune"],
                 "Thị trấn": ["commune"], "Đặc khu": ["commune"]}


def departments() -> dict[str, dict]:
    """The department registry (NTM_DEPARTMENTS names another file, e.g. for a test or a province)."""
    return _load_departments(os.environ.get("NTM_DEPARTMENTS", str(DEPARTMENTS)))


@lru_cache(maxsize=4)
def _load_departments(path: str) -> dict[str, dict]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def province_of(department: str) -> str | None:
    return departments().get(department, {}).get("province")


def reference_date(record: dict[str, Any]) -> str | None:
    """The day the row speaks of, which decides the unit list (before or from 1 July 2025)."""
    if record.get("year"):
        return f"{record['year']}-12-31"
    for column in ("received_date", "decision_date"):
        if isinstance(record.get(column), dt.date):
            return record[column].isoformat()
    period = record.get("period")
    if period:
        year, _, part = period.partition("-")
        month = {"Q1": 3, "Q2": 6, "Q3": 9, "Q4": 12, "H1": 6, "H2": 12, "": 12}.get(part) or int(part)
        return f"{year}-{month:02d}-28"
    return None


def _levels(record: dict[str, Any], unit_level: str) -> list[str]:
    if unit_level != "any":
        return [unit_level]
    code = str(record.get("unit_code") or "")
    if code.isdigit() and len(code) in LEVEL_BY_CODE_WIDTH:
        return [LEVEL_BY_CODE_WIDTH[len(code)]]
    unit_type = interpretations(record.get("unit_name") or "")[0][0]
    return LEVEL_BY_TYPE.get(unit_type, ["commune", "district", "province"])


def resolve_row(record: dict[str, Any], unit_level: str, province: str | None,
                list_version: str | None = None) -> tuple[Resolution, str]:
    """The unit of one row (name, code, district, date), trying the levels the row allows. The row's
    date decides the unit list, unless `list_version` names it."""
    answers = []
    for level in _levels(record, unit_level):
        got = resolve(record.get("unit_name"), parent=record.get("district_name") or record.get("_group"),
                      grandparent=province if level != "province" else None, code=record.get("unit_code"),
                      date=None if list_version else reference_date(record), list_version=list_version, level=level)
        answers.append((got, level))
    matched = [(g, lvl) for g, lvl in answers if g.status == "matched"]
    if len(matched) == 1 and not any(g.status == "ambiguous" for g, _ in answers):
        return matched[0]
    if len(matched) > 1:
        return Resolution("ambiguous", candidates=[g.unit for g, _ in matched],
                          reason="the name fits units of several levels"), ""
    return max(answers, key=lambda a: (a[0].status == "ambiguous", len(a[0].candidates)))


def resolve_records(records: list[dict[str, Any]], department: str,
                    unit_level: str = "commune") -> tuple[list[dict[str, Any]], list[Issue]]:
    """Rows with `unit_code`, `unit_level` and `unit_list_version` set from the official lists, and
    the issues of the rows that could not be resolved (with candidates)."""
    province = province_of(department)
    kept, issues = [], []
    for record in records:
        got, level = resolve_row(record, unit_level, province)
        if got.status == "matched":
            record.update(unit_code=got.unit.code, unit_level=level, unit_list_version=got.unit.list_version)
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
