"""What the portal's own pages read from the published tables: the DataStore table of each mart
(found by the dataset's `ntm_mart` field, so a dataset-name prefix changes nothing), headline
figures, places by name, and a place's rows in every table. Read through CKAN's actions as the
visitor (nothing private). The figures are cached for as long as the tables they come from are the
same (their resource ids and modification times): a home page must not cost a query per figure."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from pathlib import Path

import ckan.plugins.toolkit as tk

CACHE_SECONDS = 60
_cache: dict[str, tuple[float, object]] = {}


def _cached(key: str, compute):
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = compute()
    _cache[key] = (now, value)
    return value


def _signature(tables: dict[str, dict]) -> str:
    return "|".join(f"{m}:{t['resource']}:{t['modified']}" for m, t in sorted(tables.items()))


def fold(text: str) -> str:
    """The matching key of a name: no case, no diacritics, đ as d (the marts' ascii_name)."""
    decomposed = unicodedata.normalize("NFD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.replace("đ", "d").replace("Đ", "D").lower().split())


def _action(name: str, **data):
    return tk.get_action(name)({}, data)


def published_tables() -> dict[str, dict]:
    """mart -> {dataset: name, title, title_en, resource: the DataStore resource id, modified}; the
    latest dataset of a mart when there are several (a staging prefix beside the real ones)."""
    found = {}
    result = _action("package_search", q="*:*", rows=1000, include_private=False, sort="metadata_modified asc")
    for pkg in result["results"]:
        mart = pkg.get("ntm_mart")
        table = next(
            (r for r in pkg.get("resources", []) if r.get("ntm_kind") == "csv" and r.get("datastore_active")), None
        )
        if mart and table:
            found[mart] = {
                "dataset": pkg["name"],
                "title": pkg.get("title"),
                "title_en": pkg.get("title_en") or pkg.get("title"),
                "resource": table["id"],
                "modified": pkg.get("metadata_modified") or "",
            }
    return found


def sql(query: str) -> list[dict]:
    try:
        return _action("datastore_search_sql", sql=query)["records"]
    except Exception:  # a table not yet published, or a portal without the DataStore: no figures
        return []


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def headline_figures() -> list[dict]:
    """The home page's figures, each from its mart with its period and a link to its dataset."""

    def compute():
        tables, figures = published_tables(), []
        criteria = tables.get("dim_criterion")
        if (t := tables.get("fact_commune_scorecard")) and criteria:
            # the standard set in force (ntm), in each province's latest year
            for row in sql(
                f"select province_name, year, count(*) as assessed, "
                f"count(*) filter (where recognised_level <> 'none') as recognised "
                f'from "{t["resource"]}" s where criteria_set in '
                f"(select criteria_set from \"{criteria['resource']}\" where tier_code = 'ntm') "
                f'and year = (select max(year) from "{t["resource"]}" l where l.province_name = s.province_name) '
                "group by province_name, year order by province_name"
            ):
                figures.append(
                    {
                        **t,
                        "value": f"{row['recognised']}/{row['assessed']}",
                        "label_vi": f"Xã đạt chuẩn NTM (được công nhận) trên số xã có đánh giá, {row['province_name']}",
                        "label_en": f"Communes recognised at the NTM standard of those assessed, "
                        f"{row['province_name']}",
                        "period": str(row["year"]),
                    }
                )
        if t := tables.get("fact_online_public_services"):
            for row in sql(
                f'select province_name, period, full_online_pct from "{t["resource"]}" '
                "where source = 'reported' and unit_level = 'province' and full_online_pct is not null "
                "order by period desc limit 3"
            ):
                figures.append(
                    {
                        **t,
                        "value": f"{float(row['full_online_pct']):g} %",
                        "label_vi": f"Thủ tục hành chính trực tuyến toàn trình, {row['province_name']}",
                        "label_en": f"Administrative procedures fully online, {row['province_name']}",
                        "period": row["period"],
                    }
                )
        if t := tables.get("fact_digital_infrastructure"):
            # the province's own figure where it reported one, else the mean of its communes
            for row in sql(
                f"select province_name, max(year) as year, "
                f"max(fixed_broadband_household_pct) filter (where unit_level = 'province') as province_pct, "
                f"round(avg(fixed_broadband_household_pct) filter (where unit_level = 'commune')::numeric, 1) "
                f"as commune_mean, count(*) filter (where unit_level = 'commune') as communes "
                f'from "{t["resource"]}" where fixed_broadband_household_pct is not null '
                "group by province_name order by province_name"
            ):
                own = row["province_pct"] is not None
                figures.append(
                    {
                        **t,
                        "value": f"{float(row['province_pct'] if own else row['commune_mean']):g} %",
                        "label_vi": f"Hộ có Internet cáp quang, {row['province_name']}"
                        + ("" if own else f" (trung bình {row['communes']} xã)"),
                        "label_en": f"Households with fixed broadband, {row['province_name']}"
                        + ("" if own else f" (mean of {row['communes']} communes)"),
                        "period": str(row["year"]),
                    }
                )
        return figures

    return _cached("figures:" + _signature(published_tables()), compute)


def find_places(query: str, limit: int = 20) -> list[dict]:
    """Provinces and communes whose name contains the words, with or without diacritics; today's
    units first."""
    words = fold(query)
    if not words or not (t := published_tables().get("dim_admin_unit")):
        return []
    pattern = "%" + re.sub(r"[%_\\\\]", "", words).replace(" ", "%") + "%"
    return sql(
        f'select unit_key, unit_name, level, list_version, province_key from "{t["resource"]}" '
        f"where level in ('province', 'commune') and ascii_name like {literal(pattern)} "
        f"order by list_version desc, level desc, unit_name limit {int(limit)}"
    )


# Tables a place page lists, and the column that names the place in each.
PLACE_TABLES = (
    ("fact_commune_scorecard", "unit_key"),
    ("fact_digital_infrastructure", "unit_key"),
    ("fact_online_public_services", "unit_key"),
    ("fact_satisfaction_surveys", "unit_key"),
    ("fact_community_digital_teams", "unit_key"),
    ("fact_cooperatives", "unit_key"),
    ("fact_ocop_products", "unit_key"),
    ("fact_growing_area_codes", "unit_key"),
    ("kpi_program_targets", "province_unit_key"),
)
HIDDEN = {"_id", "_full_text", "unit_key", "unit_list_version", "current_unit_key", "province_unit_key", "department"}


def column_labels(resource_id: str) -> dict[str, dict]:
    """Column -> {'vi': label, 'en': label}, from the table's data dictionary."""
    try:
        fields = _action("datastore_info", id=resource_id)["fields"]
    except Exception:
        return {}
    return {f["id"]: (f.get("info") or {}).get("label_translated") or {} for f in fields}


# Words for the crosswalk's relations.
RELATIONS = {
    "unchanged": ("giữ nguyên", "unchanged"),
    "merged_whole": ("sáp nhập toàn bộ", "merged whole"),
    "split_part": ("một phần được tách", "part of a divided unit"),
}


def place(unit_key: str) -> dict | None:
    tables = published_tables()
    units = tables.get("dim_admin_unit")
    if not units:
        return None
    found = sql(f'select * from "{units["resource"]}" where unit_key = {literal(unit_key)}')
    if not found:
        return None
    unit = found[0]
    parents = sql(
        f'select unit_key, unit_name, level from "{units["resource"]}" '
        f"where unit_key in ({literal(unit.get('parent_key') or '')}, {literal(unit.get('province_key') or '')})"
    )
    links = []
    if t := tables.get("dim_admin_unit_crosswalk"):
        links = sql(
            f"select c.old_unit_key, c.new_unit_key, c.relation, o.unit_name as old_name, n.unit_name as new_name "
            f'from "{t["resource"]}" c join "{units["resource"]}" o on o.unit_key = c.old_unit_key '
            f'join "{units["resource"]}" n on n.unit_key = c.new_unit_key '
            f"where c.old_unit_key = {literal(unit_key)} or c.new_unit_key = {literal(unit_key)} limit 50"
        )
    sections = []
    for mart, column in PLACE_TABLES:
        t = tables.get(mart)
        if not t:
            continue
        where = f"{column} = {literal(unit_key)}"
        if column == "unit_key" and unit.get("list_version") == "2025":
            where += f" or current_unit_key = {literal(unit_key)}"  # its predecessors' rows
        rows = sql(f'select * from "{t["resource"]}" where {where} limit 50')
        if rows:
            labels = column_labels(t["resource"])
            columns = [(c, labels.get(c, {"vi": c, "en": c})) for c in rows[0] if c not in HIDDEN]
            sections.append({**t, "mart": mart, "columns": columns, "rows": rows})
    return {"unit": unit, "parents": parents, "links": links, "sections": sections}


# ---------------------------------------------------------------- the map

POINTS_FILE = Path(__file__).resolve().parent / "data" / "communes-2025.json"
# Choropleth indicators: the province (on today's map) and year of each value, from its mart.
INDICATORS = {
    "broadband": (
        "fact_digital_infrastructure",
        "Hộ có Internet cáp quang (%)",
        "Households with fixed broadband (%)",
        "select current_province_code as code, year, coalesce("
        "max(fixed_broadband_household_pct) filter (where unit_level = 'province'), "
        "round(avg(fixed_broadband_household_pct) filter (where unit_level = 'commune')::numeric, 1)) as value "
        'from "{resource}" where fixed_broadband_household_pct is not null group by 1, 2',
    ),
    "online": (
        "fact_online_public_services",
        "Thủ tục trực tuyến toàn trình (%)",
        "Procedures fully online (%)",
        "select current_province_code as code, left(period, 4)::int as year, max(full_online_pct) as value "
        "from \"{resource}\" where source = 'reported' and unit_level = 'province' and full_online_pct is not null "
        "group by 1, 2",
    ),
    "recognised": (
        "fact_commune_scorecard",
        "Xã được công nhận đạt chuẩn NTM, trong số xã có đánh giá (%)",
        "Communes recognised at the NTM standard, of those assessed (%)",
        "select current_province_code as code, year, "
        "round(100.0 * count(*) filter (where recognised_level <> 'none') / count(*), 1) as value "
        'from "{resource}" where recognised_level is not null group by 1, 2',
    ),
}


def map_data() -> dict:
    """What the map draws: per indicator, value by year and province of 2025; and the communes with a
    scorecard, at their place on today's map, by NTM status (recognised / not met / unknown)."""

    def compute():
        tables = published_tables()
        indicators = []
        for key, (mart, label_vi, label_en, query) in INDICATORS.items():
            if t := tables.get(mart):
                values: dict[str, dict[str, float]] = {}
                for row in sql(query.format(resource=t["resource"])):
                    if row["code"] and row["value"] is not None:
                        values.setdefault(str(row["year"]), {})[row["code"]] = float(row["value"])
                if values:
                    indicators.append(
                        {
                            "id": key,
                            "label_vi": label_vi,
                            "label_en": label_en,
                            "dataset": t["dataset"],
                            "values": values,
                        }
                    )
        points = []
        if t := tables.get("fact_commune_scorecard"):
            coordinates = json.loads(POINTS_FILE.read_text(encoding="utf-8")) if POINTS_FILE.exists() else {}
            for row in sql(
                "select current_unit_key as key, max(unit_name) as name, max(year) as year, "
                "bool_or(recognised_level <> 'none') as recognised, bool_and(meets_standard = false) as not_met "
                f'from "{t["resource"]}" where current_unit_key is not null group by 1'
            ):
                if row["key"] in coordinates:
                    lat, lon = coordinates[row["key"]]
                    status = "recognised" if row["recognised"] else "not_met" if row["not_met"] else "unknown"
                    points.append(
                        {
                            "key": row["key"],
                            "name": row["name"],
                            "year": row["year"],
                            "lat": lat,
                            "lon": lon,
                            "status": status,
                        }
                    )
        return {"indicators": indicators, "points": points}

    return _cached("map:" + _signature(published_tables()), compute)


# ---------------------------------------------------------------- freshness


def _names(text) -> list[str]:
    return [n.strip() for n in (text if isinstance(text, list) else str(text or "").split(",")) if n.strip()]


def freshness(departments=None, datasets=None) -> list[dict]:
    """The freshness rows (mart fact_dataset_freshness) of these departments and datasets (a
    comma-separated field or a list; None: any), latest first among the late ones."""
    if not (t := published_tables().get("fact_dataset_freshness")):
        return []
    where = ["true"]
    for column, names in (("department", departments), ("dataset", datasets)):
        if names is not None:
            where.append(f"{column} in ({', '.join(literal(n) for n in _names(names)) or literal('')})")
    return sql(
        f"select department, dataset, frequency, status, status_vi, status_en, age_days, last_received, as_of "
        f'from "{t["resource"]}" where {" and ".join(where)} '
        "order by case status when 'fresh' then 1 else 0 end, age_days desc nulls first, department, dataset limit 100"
    )


def freshness_dataset() -> dict | None:
    return published_tables().get("fact_dataset_freshness")
