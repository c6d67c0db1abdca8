"""`ntm scorecard NAME`: one commune's scorecard, read from the mart fact_commune_scorecard.

The name is resolved as ingest resolves a unit name (ntm_core.units.resolver), never by guessing:
an ambiguous name is answered with its candidates. With `--year` the name is looked up in the unit
list of that year; without it, in today's list first, so a commune of today's map shows its own rows
and those of the communes it was formed from (their `current_unit_key` is it). `--set` takes any
set's id (in any case) or a tier code; a set the lakehouse does not know is answered with the sets
it knows (the reference files' and the catalogues received)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ntm_core.settings import DBT_SEEDS
from ntm_core.units.names import plain_key
from ntm_core.units.resolver import Candidate, resolve

MART = "fact_commune_scorecard"
LIST_COLUMNS = {  # "8, 15" in the mart, a list in JSON
    "unmet_criteria": ",",
    "unmet_indicators": ",",
    "disagreement_list": ";",  # "7: reported met, computed not_met; 1.2: ..."
}
TODAY_LIST = "2025"
REFERENCE_SETS = DBT_SEEDS / "reference" / "criteria_sets.csv"
TIER_CODES = DBT_SEEDS / "program" / "criteria_tiers.csv"


@dataclass
class ScorecardLookup:
    status: str  # found | ambiguous | not_found | no_scorecard
    scorecards: list[dict] = field(default_factory=list)  # the chosen one first
    candidates: list[Candidate] = field(default_factory=list)
    unit: Candidate | None = None
    reason: str = ""

    @property
    def found(self) -> bool:
        return self.status == "found"


def find_scorecards(
    name: str,
    data_dir: Path,
    province: str | None = None,
    year: int | None = None,
    criteria_set: str | None = None,
) -> ScorecardLookup:
    unit, candidates, reason = _resolve_commune(name, province, year)
    if unit is None:
        return ScorecardLookup("ambiguous" if candidates else "not_found", candidates=candidates, reason=reason)
    rows = _rows(unit, data_dir, year, criteria_set)
    if not rows:
        known = known_sets(data_dir)
        if criteria_set and criteria_set.strip().casefold() not in {k.casefold() for k in known}:
            reason = f"'{criteria_set}' is not a known criteria set; the known sets: {', '.join(known)}"
            return ScorecardLookup("no_scorecard", unit=unit, reason=reason)
        return ScorecardLookup("no_scorecard", unit=unit, reason=f"no scorecard for {unit.path} with these filters")
    return ScorecardLookup("found", scorecards=rows, unit=unit)


def known_sets(data_dir: Path) -> list[str]:
    """The criteria sets the lakehouse knows: the reference files' (the seed), those of the catalogues
    received and those assessed (the marts), then the tier codes that stand for the set in force."""
    import csv

    import duckdb

    with open(REFERENCE_SETS, encoding="utf-8", newline="") as f:
        sets = {row["set_id"] for row in csv.DictReader(f)}
    marts = data_dir / "marts"
    with duckdb.connect() as con:
        for mart in (marts / "dim_criterion.parquet", marts / f"{MART}.parquet"):
            if mart.exists():
                sets |= {
                    v for (v,) in con.execute(f"select distinct criteria_set from read_parquet('{mart}')").fetchall()
                }
    with open(TIER_CODES, encoding="utf-8", newline="") as f:
        tiers = [row["tier_code"] for row in csv.DictReader(f)]
    return sorted(s for s in sets if s) + tiers


def _resolve_commune(name: str, province: str | None, year: int | None):
    """(unit, candidates, reason). A name that fits a commune of the 2024 list and one of today's list
    (most communes kept their names) is today's commune, unless a year says which list is meant."""
    if year is not None:
        got = resolve(name, province=province, level="commune", date=f"{year}-12-31")
        return (got.unit, [], "") if got.status == "matched" else (None, got.candidates, got.reason or "")
    answers = {v: resolve(name, province=province, level="commune", list_version=v) for v in (TODAY_LIST, "2024")}
    for got in answers.values():
        if got.status == "matched":
            return got.unit, [], ""
    candidates = [c for got in answers.values() for c in got.candidates]
    return None, candidates, next((g.reason for g in answers.values() if g.reason), "") or ""


def _rows(unit: Candidate, data_dir: Path, year: int | None, criteria_set: str | None) -> list[dict]:
    import duckdb

    marts = data_dir / "marts"
    mart = marts / f"{MART}.parquet"
    if not mart.exists():
        return []
    column = "current_unit_key" if unit.list_version == TODAY_LIST else "unit_key"
    where, params = [f"({column} = $key or unit_key = $key)"], {"key": unit.key}
    if year is not None:
        where.append("year = $year")
        params["year"] = year
    if criteria_set:  # a set's id in any case, or a tier code (the set of that tier)
        where.append(
            "(upper(criteria_set) = upper($set) or criteria_set in (select criteria_set from "
            f"read_parquet('{marts / 'dim_criterion.parquet'}') where tier_code = lower($set)))"
        )
        params["set"] = criteria_set.strip()
    with duckdb.connect() as con:
        frame = con.execute(
            f"select * from read_parquet('{mart}') where {' and '.join(where)} "
            "order by year desc, criteria_set, unit_key",
            params,
        ).df()
    rows = [_plain(row) for row in frame.to_dict(orient="records")]
    # Latest year first; within it the unit itself, then the predecessor that bears its name.
    name = plain_key(unit.name)
    return sorted(rows, key=lambda r: (-r["year"], r["unit_key"] != unit.key, plain_key(r["unit_name"]) != name))


def _plain(row: dict) -> dict:
    """JSON-ready values: lists for the lists, None for missing values, ISO dates."""
    import math

    out = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "<NA>"):
            value = None
        elif key in LIST_COLUMNS:
            value = [part.strip() for part in str(value).split(LIST_COLUMNS[key]) if part.strip()]
        elif hasattr(value, "isoformat"):
            value = value.isoformat()[:10]
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    for key in LIST_COLUMNS:
        out[key] = out.get(key) or []
    return out


def as_json(lookup: ScorecardLookup) -> dict:
    """One object: the chosen scorecard, with the other rows the name and filters found listed by key."""
    chosen = dict(lookup.scorecards[0])
    chosen["other_scorecards"] = [
        {k: row[k] for k in ("unit_code", "unit_name", "year", "criteria_set")} for row in lookup.scorecards[1:]
    ]
    return chosen


def render(lookup: ScorecardLookup) -> str:
    if lookup.status in ("ambiguous", "not_found"):
        head = (
            "Tên khớp nhiều xã / The name fits several communes:"
            if lookup.status == "ambiguous"
            else f"Không tìm thấy xã / No commune found ({lookup.reason})"
        )
        return "\n".join([head, *(f"  {c.key}  {c.path}" for c in lookup.candidates[:10])])
    if lookup.status == "no_scorecard":
        return f"Chưa có bảng đánh giá / No scorecard: {lookup.reason}"
    s = lookup.scorecards[0]
    standard = {True: "đạt / met", False: "chưa đạt / not met", None: "chưa đủ dữ liệu / not enough data"}
    lines = [
        f"{s['unit_name']} ({s['unit_code']}), {s['province_name']} — {s['year']}, {s['criteria_set']}",
        f"  Đơn vị hiện nay / Today's unit: {s['current_unit_name'] or '?'} ({s['current_unit_key'] or '?'})",
        f"  Nhóm xã / Commune group: {s['commune_group'] or 'chưa biết / unknown'}",
        f"  Tiêu chí đạt / Criteria met: {s['criteria_met']}/{s['criteria_total'] or '?'}"
        f" (chưa đạt / not met {s['criteria_not_met']}, chưa có dữ liệu / no data {s['criteria_no_data']})",
        f"  Tiêu chí chưa đạt / Unmet criteria: {', '.join(s['unmet_criteria']) or '-'}",
        f"  Chỉ tiêu chưa đạt / Unmet indicators: {', '.join(s['unmet_indicators']) or '-'}",
        f"  Đạt chuẩn / Meets the standard: {standard[s['meets_standard']]}",
        f"  Mức công nhận / Recognised level: {s['recognised_level']}"
        + (f" ({s['decision_no']}, {s['decision_date']})" if s["decision_no"] else ""),
        f"  Hài lòng / Satisfied: {s['satisfied_pct'] if s['satisfied_pct'] is not None else '-'}"
        + (f" % ({s['satisfaction_period']})" if s["satisfaction_period"] else ""),
        f"  Nguồn / Sources: {s['sources'] or '-'}",
    ]
    if s["disagreements"]:
        lines.append(
            f"  Báo cáo khác kết quả tính / Reported differs from computed: {s['disagreements']} chỉ tiêu / items"
        )
        lines += [f"    {item}" for item in s.get("disagreement_list") or []]
    for other in lookup.scorecards[1:]:
        lines.append(f"  + {other['unit_name']} ({other['unit_code']}) {other['year']} {other['criteria_set']}")
    return "\n".join(lines)
