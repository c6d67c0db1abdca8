"""Give every landed row its official unit: the resolver's answer, or a held-back row whose report
lists the candidates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ingest.problems import Issue
from ntm_core.departments import province_of
from ntm_core.units.resolver import Resolution, list_versions, resolve


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


def _levels(record: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The levels a row's unit may be at, among those its contract accepts; the resolver narrows them
    down by the code's width and the type word of the name ('Tỉnh', 'Xã')."""
    levels = tuple(allowed)
    if record.get("_level") in levels:  # under a form's level row ('I. Cấp tỉnh')
        levels = (record["_level"],)
    return levels


def resolve_row(
    record: dict[str, Any], unit_levels: tuple[str, ...], province: str | None, list_version: str | None = None
) -> tuple[Resolution, str]:
    """The unit of one row (name, code, district, date) within the department's province, at one of
    the levels the contract accepts, and that level. The row's date decides the unit list, unless
    `list_version` names it."""
    got = resolve(
        record.get("unit_name"),
        parent=record.get("district_name") or record.get("_group"),
        code=record.get("unit_code"),
        date=None if list_version else reference_date(record),
        list_version=list_version,
        level=_levels(record, unit_levels),
        province=province,
    )
    return got, got.level or ""


def unit_issue(record: dict[str, Any], got: Resolution) -> Issue:
    """Why a row's unit was not found, in both languages, with the closest official units."""
    written = " / ".join(str(v) for v in (record.get("unit_name"), record.get("unit_code")) if v)
    options = "; ".join(f"{c.code} {c.path}" for c in got.candidates[:5])
    fix_vi = "Ghi đúng tên và mã ĐVHC theo danh mục" + (
        "; các đơn vị gần nhất: " + options if options else " của Tổng cục Thống kê"
    )
    fix_en = "Write the official unit name and code" + (
        "; closest units: " + options if options else " (General Statistics Office list)"
    )
    if got.outside:
        vi = f"Đơn vị '{written}' không thuộc {got.outside}, tỉnh của đơn vị gửi"
        en = f"Unit '{written}' is not in {got.outside}, the department's province"
        fix_vi = f"Chỉ gửi số liệu của các đơn vị thuộc {got.outside}; kiểm tra lại mã và tên đơn vị"
        fix_en = f"Send figures for units of {got.outside} only; check the unit's code and name"
    elif got.status == "ambiguous":
        vi, en = f"Tên/mã đơn vị '{written}' khớp nhiều đơn vị", f"Unit '{written}' fits several units"
    else:
        vi, en = f"Không tìm thấy đơn vị '{written}' trong danh mục", f"Unit '{written}' is not in the official list"
    return Issue(
        record["_row_number"], "unit_name", written, f"{vi} ({got.reason})", f"{en} ({got.reason})", fix_vi, fix_en
    )


def resolve_records(
    records: list[dict[str, Any]],
    department: str,
    unit_levels: tuple[str, ...] = ("commune",),
    answers: dict[tuple, tuple[Resolution, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Rows with `unit_code`, `unit_level` and `unit_list_version` set from the official lists (and
    `hamlet_name`, when the unit was written as a hamlet of its commune), and the issues of the rows
    that could not be resolved (with candidates). `answers` keeps what was resolved for the next
    file of the run."""
    province = province_of(department)
    kept, issues = [], []
    # A file names the same few units on many rows, each with its own day: the day only picks the list.
    answers = {} if answers is None else answers
    for record in records:
        asked = (
            province,
            *(record.get(c) for c in ("unit_name", "district_name", "_group", "unit_code")),
            tuple(list_versions(reference_date(record))),
            _levels(record, unit_levels),
        )
        if asked not in answers:
            answers[asked] = resolve_row(record, unit_levels, province)
        got, level = answers[asked]
        if got.status == "matched":
            record.update(unit_code=got.unit.code, unit_level=level, unit_list_version=got.unit.list_version)
            if got.hamlet and not record.get("hamlet_name"):  # 'Thôn A' written as the unit, under its commune
                record["hamlet_name"] = got.hamlet
            kept.append(record)
            continue
        issues.append(unit_issue(record, got))
    return kept, issues
