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
                "sources": _names(pkg.get("source_datasets")),
                "departments": _names(pkg.get("source_departments")),  # the department datasets it is built from
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
    """The home page's figures: each declared indicator (the headline first) in its latest year, over
    the country's communes with data as it aggregates them (or, for a figure only provinces report,
    the provinces' values), with how many of today's provinces it covers and its dataset."""

    def compute():
        figures, of_provinces = [], len(provinces())
        for indicator in indicators():
            by_year = indicator_values(indicator)
            if not by_year:
                continue
            year = max(by_year)
            provinces_with_data = by_year[year]
            figures.append(
                {
                    "indicator": indicator,
                    "year": year,
                    "country": commune_values(indicator).get(year),
                    "provinces": provinces_with_data,
                    "of_provinces": of_provinces,
                    "dataset": indicator["table"]["dataset"],
                    "title": indicator["table"]["title"],
                    "title_en": indicator["table"]["title_en"],
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
        f"where unit_key in ({literal(unit.get('parent_key') or '')}, {literal(unit.get('province_key') or '')}) "
        f"and unit_key <> {literal(unit_key)}"  # a province is its own province_key: not its own parent
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
    profile, commune = None, None
    if unit.get("level") == "province" and unit.get("list_version") == "2025":
        profile = province_profile(unit, tables)
    if unit.get("level") == "commune":
        commune = commune_profile(unit, tables)
    figures = []
    if unit.get("level") == "province":  # each declared indicator's latest value for the province
        for indicator in indicators():
            by_year = indicator_values(indicator)
            year = max((y for y, v in by_year.items() if unit.get("unit_code") in v), default=None)
            if year and unit.get("list_version") == "2025":
                figures.append({"indicator": indicator, "year": year, "value": by_year[year][unit["unit_code"]]})
    found = {"unit": unit, "parents": parents, "links": links, "sections": sections}
    return {**found, "profile": profile, "commune": commune, "figures": figures}


# ---------------------------------------------------------------- the map

# Where today's 3,321 communes are (vietnamadminunits' coordinates, written by portal/map/).
POINTS_FILE = Path(__file__).resolve().parent / "public" / "ntm" / "map" / "communes-2025.json"
AGGREGATES = ("mean", "share", "sum", "value")
# The maps' colours, light to dark: the only copy. The indicator pages' SVG map draws with `classes`;
# the portal's Leaflet map (ntm-map.js) receives the classes in its JSON and has no colours of its own.
RAMP = ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d")


def classes(values: list[float]) -> list[tuple[float, float, str]]:
    """Equal-interval classes over the values (low, high, colour); one class when they are all equal."""
    if not values:
        return []
    low, high = min(values), max(values)
    if low == high:
        return [(low, high, RAMP[0])]
    step = (high - low) / len(RAMP)
    return [(low + step * i, high if i == len(RAMP) - 1 else low + step * (i + 1), c) for i, c in enumerate(RAMP)]


def indicators() -> list[dict]:
    """The indicators the published tables declare: a column whose data-dictionary entry carries
    `ntm_indicator` (declared once as `meta.indicator` in the mart's dbt YAML, copied there by
    publish): id, labels, unit, direction, how communes aggregate to a province; with its mart,
    column and table."""

    def compute():
        found = []
        for mart, t in sorted(published_tables().items()):
            try:
                fields = _action("datastore_info", id=t["resource"])["fields"]
            except Exception:
                continue
            for f in fields:
                declared = (f.get("info") or {}).get("ntm_indicator")
                if isinstance(declared, dict) and declared.get("id") and declared.get("aggregate") in AGGREGATES:
                    found.append({**declared, "mart": mart, "column": f["id"], "table": t})
        return sorted(found, key=lambda i: (not i.get("headline"), i["id"]))

    return _cached("indicators:" + _signature(published_tables()), compute)


def _condition(column: str, meets: dict) -> str:
    """SQL for "this row meets the indicator's threshold" (meets: not_in / equals / at_least / at_most)."""
    c = f'"{column}"'
    if "not_in" in meets:
        return f"{c} not in ({', '.join(literal(v) for v in meets['not_in'])})"
    if "equals" in meets:
        return f"{c} = {literal(meets['equals'])}"
    if "at_least" in meets:
        return f"{c} >= {float(meets['at_least'])}"
    if "at_most" in meets:
        return f"{c} <= {float(meets['at_most'])}"
    return f"{c} is not null"


def _year(indicator: dict) -> str:
    """SQL of a row's year: its `year`, or the first four characters of the column `year_from` names."""
    return f'left("{indicator["year_from"]}", 4)::int' if indicator.get("year_from") else "year"


def _filters(indicator: dict) -> list[str]:
    """SQL conditions of the rows an indicator reads: a value, and its declared `where`."""
    where = [f'"{indicator["column"]}" is not null']
    return where + [f'"{k}" = {literal(v)}' for k, v in (indicator.get("where") or {}).items()]


def _share(indicator: dict) -> str:
    """SQL: the share (%) of the units (communes) of which a row meets the indicator's threshold. Units,
    not rows: a commune assessed against two criteria sets (the standard and the advanced) in a year
    has two scorecards and counts once."""
    meets = _condition(indicator["column"], indicator.get("meets") or {})
    return f"round(100.0 * count(distinct unit_key) filter (where {meets}) / count(distinct unit_key), 1)"


def _aggregated(indicator: dict, own_figure_first: bool) -> str:
    """SQL of the indicator over a group of rows, as its declaration says it aggregates."""
    c = f'"{indicator["column"]}"'
    aggregate = indicator["aggregate"]
    if aggregate == "share":
        return _share(indicator)
    if aggregate == "sum":
        return f"sum({c})"
    if aggregate == "value":
        return f"max({c})"
    if own_figure_first:
        own = f"max({c}) filter (where unit_level = 'province')"
        return f"coalesce({own}, round(avg({c}) filter (where unit_level = 'commune')::numeric, 1))"
    return f"round(avg({c})::numeric, 1)"


def indicator_query(indicator: dict, by: str = "province") -> str:
    """One row per unit of today's map and year: (code, year, value), the value aggregated from the
    rows as the declaration says. `by`: "province" (its code), or "commune" (its unit key: the rows of
    the commune and of the communes it was formed from, at commune level only)."""
    year, resource = _year(indicator), indicator["table"]["resource"]
    if by == "commune":
        code, value = "current_unit_key", _aggregated(indicator, own_figure_first=False)
        where = [*_filters(indicator), "unit_level = 'commune'", "current_unit_key is not null"]
    else:
        code, value = "current_province_code", _aggregated(indicator, bool(indicator.get("own_figure_first")))
        where = [*_filters(indicator), "current_province_code is not null"]
    return (
        f"select {code} as code, {year} as year, {value} as value "
        f'from "{resource}" where {" and ".join(where)} group by 1, 2'
    )


def indicator_values(indicator: dict, by: str = "province") -> dict[str, dict[str, float]]:
    """year -> province code (or, by commune, commune unit key) -> value."""
    values: dict[str, dict[str, float]] = {}
    for row in sql(indicator_query(indicator, by)):
        if row["code"] and row["value"] is not None:
            values.setdefault(str(row["year"]), {})[row["code"]] = float(row["value"])
    return values


def map_data() -> dict:
    """What the map draws, per mapped indicator and year: each province's value, each commune's with a
    value (of today's map, aggregated from its rows as the declaration says) and the colour classes
    over both; the communes with a value in some year (name, latitude, longitude); how many communes
    today's map has (the legend says how many have no data)."""

    def compute():
        coordinates = json.loads(POINTS_FILE.read_text(encoding="utf-8")) if POINTS_FILE.exists() else {}
        offered = [_map_indicator(ind, coordinates) for ind in indicators() if ind.get("map")]
        offered = [ind for ind in offered if ind["values"]]
        keys = sorted({key for ind in offered for by_key in ind["communes"].values() for key in by_key})
        return {
            "indicators": offered,
            "communes": _commune_points(keys, coordinates),
            "commune_total": len(coordinates),
        }

    return _cached("map:" + _signature(published_tables()), compute)


def _map_indicator(ind: dict, coordinates: dict) -> dict:
    """One indicator as the map needs it (values by year: provinces, communes with a place; classes)."""
    values = indicator_values(ind)
    communes = {
        year: {key: v for key, v in by_key.items() if key in coordinates}
        for year, by_key in indicator_values(ind, by="commune").items()
    }
    return {
        "id": ind["id"],
        "label_vi": ind.get("label_vi") or ind["column"],
        "label_en": ind.get("label_en") or ind["column"],
        "unit": ind.get("unit", ""),
        "direction": ind.get("direction", "higher"),
        "dataset": ind["table"]["dataset"],
        "values": values,
        "communes": {year: by_key for year, by_key in communes.items() if by_key},
        "classes": {
            year: classes([*values.get(year, {}).values(), *communes.get(year, {}).values()])
            for year in sorted(set(values) | set(communes))
        },
    }


def _commune_points(keys: list[str], coordinates: dict) -> dict[str, list]:
    """unit key -> [name, latitude, longitude] of these communes of today's map (names from the
    published unit list)."""
    if not keys or not (t := published_tables().get("dim_admin_unit")):
        return {}
    names = {
        r["unit_key"]: r["unit_name"]
        for r in sql(
            f'select unit_key, unit_name from "{t["resource"]}" '
            f"where unit_key in ({', '.join(literal(k) for k in keys)})"
        )
    }
    return {key: [names.get(key, key), *coordinates[key]] for key in keys}


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


# ---------------------------------------------------------------- places, provinces, the data grid


def headline_indicator() -> dict | None:
    """The indicator the places directory quotes for each province (`headline: true` in its
    declaration; else the first declared)."""
    found = indicators()
    return next((i for i in found if i.get("headline")), found[0] if found else None)


def provinces() -> list[dict]:
    """Today's 34 provinces (unit_key, unit_code, unit_name, short_name, ascii_name, communes: how many
    communes of today's map), by name without its type word."""
    if not (t := published_tables().get("dim_admin_unit")):
        return []
    found = sql(
        f"select p.unit_key, p.unit_code, p.unit_name, p.short_name, p.ascii_name, "
        f"(select count(*) from \"{t['resource']}\" c where c.province_key = p.unit_key and c.level = 'commune' "
        f"and c.list_version = '2025') as communes "
        f"from \"{t['resource']}\" p where p.level = 'province' and p.list_version = '2025'"
    )
    return sorted(found, key=lambda p: fold(p["short_name"] or p["unit_name"]))  # Cần Thơ by C, not "Thành phố"


def province_directory(query: str = "") -> dict:
    """/places: the 34 provinces, each with the headline indicator's latest value (and its year),
    filtered by a name with or without diacritics."""

    def compute():
        indicator = headline_indicator()
        latest: dict[str, tuple[str, float]] = {}
        if indicator:
            for year, by_code in sorted(indicator_values(indicator).items()):
                latest.update({code: (year, value) for code, value in by_code.items()})
        rows = []
        for p in provinces():
            year, value = latest.get(p["unit_code"], (None, None))
            rows.append({**p, "year": year, "value": value})
        return {"indicator": indicator, "provinces": rows}

    found = _cached("directory:" + _signature(published_tables()), compute)
    words = fold(query)
    if words:
        found = {**found, "provinces": [p for p in found["provinces"] if words in fold(p["unit_name"])]}
    return found


def province_profile(unit: dict, tables: dict[str, dict]) -> dict:
    """A province of today's map: its communes (with the units they were formed from and their latest
    scorecard), the scorecards of its communes before and after 2025, and its program targets."""
    units, key = tables["dim_admin_unit"]["resource"], unit["unit_key"]
    communes = sql(
        f'select unit_key, unit_name, ascii_name from "{units}" '
        f"where province_key = {literal(key)} and level = 'commune' and list_version = '2025' order by ascii_name"
    )
    if (t := tables.get("dim_admin_unit_crosswalk")) and communes:
        formed: dict[str, list[dict]] = {}
        for row in sql(
            f'select c.new_unit_key, c.old_unit_key, o.unit_name from "{t["resource"]}" c '
            f'join "{units}" o on o.unit_key = c.old_unit_key '
            f'join "{units}" n on n.unit_key = c.new_unit_key and n.province_key = {literal(key)} '
            f"where o.level = 'commune' and c.old_unit_key <> c.new_unit_key order by o.ascii_name"
        ):
            formed.setdefault(row["new_unit_key"], []).append(row)
        communes = [{**c, "formed_from": formed.get(c["unit_key"], [])} for c in communes]
    predecessors = []
    if t := tables.get("dim_admin_unit_crosswalk"):
        # the provinces before 2025 whose communes (their main successors) are in this province now
        predecessors = sql(
            f'select distinct p.unit_key, p.unit_name from "{t["resource"]}" c '
            f'join "{units}" o on o.unit_key = c.old_unit_key '
            f'join "{units}" n on n.unit_key = c.new_unit_key '
            f'join "{units}" p on p.unit_key = o.province_key '
            f"where n.province_key = {literal(key)} and c.is_main_successor and o.level = 'commune' "
            "order by p.unit_name"
        )
    scorecards = []
    if t := tables.get("fact_commune_scorecard"):
        scorecards = [
            {**row, "source": t}
            for row in sql(
                f"select unit_key, unit_name, current_unit_key, current_unit_name, year, criteria_set, "
                f"criteria_set_title_vi, commune_group, criteria_met, criteria_total, meets_standard, "
                f"recognised_level, decision_no "
                f'from "{t["resource"]}" where current_province_code = {literal(unit["unit_code"])} '
                f"order by year desc, current_unit_name, criteria_set limit 500"
            )
        ]
    latest = {}
    for row in scorecards:  # the latest scorecard of each commune of today's map
        latest.setdefault(row["current_unit_key"], row)
    communes = [{**c, "scorecard": latest.get(c["unit_key"])} for c in communes]
    targets, holders = [], [key, *(p["unit_key"] for p in predecessors)]  # targets set before 2025 too
    if t := tables.get("kpi_program_targets"):
        targets = [
            {**row, "source": t}
            for row in sql(
                f"select province_name, year, target_code, scope, plan, target_year, description_vi, description_en, "
                f"unit, comparator, target_text, target_value, actual_value, measured_over, method_vi, method_en, met "
                f'from "{t["resource"]}" where province_unit_key in ({", ".join(literal(k) for k in holders)}) '
                f"order by year desc, target_code limit 200"
            )
        ]
    return {
        "communes": communes,
        "predecessors": predecessors,
        "scorecards": scorecards,
        "targets": targets,
        "assessed": sum(1 for c in communes if c["scorecard"]),
    }


def _province_of_department(department: str, by_folder: dict[str, str]) -> str | None:
    """The province code of a department's folder name (`<kind>-<province name without its type word,
    no diacritics>`, the department registry's rule); None for a national one."""
    for folder, code in sorted(by_folder.items(), key=lambda item: -len(item[0])):
        if department.endswith("-" + folder):
            return code
    return None


GRID_STATUSES = ("fresh", "due", "overdue", "delinquent")


def data_grid() -> dict:
    """/grid: provinces × datasets the program expects (fact_dataset_freshness), each cell with the
    status and age of the latest file (`missing`: never received) and the rows the published tables
    hold for the province in the table's latest year; and provinces × criteria (`criteria`)."""

    def compute():
        tables = published_tables()
        if not (t := tables.get("fact_dataset_freshness")):
            return {"datasets": [], "rows": [], "as_of": None}
        places = provinces()
        by_folder = {fold(p["short_name"] or "").replace(" ", "-"): p["unit_code"] for p in places}
        cells: dict[tuple[str, str], dict] = {}
        as_of = None
        for row in sql(
            f"select department, dataset, status, status_vi, status_en, age_days, never_received, last_received, "
            f'as_of from "{t["resource"]}"'
        ):
            code = _province_of_department(row["department"], by_folder)
            as_of = as_of or row["as_of"]
            if code:
                status = "missing" if row["never_received"] else row["status"]
                cells[(code, row["dataset"])] = {**row, "status": status}
        held = _rows_by_province(tables)
        datasets = sorted({d for _, d in cells})
        rows = []
        for p in places:
            row = []
            for dataset in datasets:
                cell = cells.get((p["unit_code"], dataset))
                year, count = held.get((p["unit_code"], dataset), (None, 0))
                row.append({"dataset": dataset, "cell": cell, "rows": count, "year": year})
            rows.append({**p, "cells": row})
        return {"datasets": datasets, "rows": rows, "as_of": as_of}

    return {**_cached("grid:" + _signature(published_tables()), compute), "criteria": criteria_grid()}


def _rows_by_province(tables: dict[str, dict]) -> dict[tuple[str, str], tuple[int, int]]:
    """(province code, source dataset) -> (the table's latest year, the province's rows in it), for
    every published mart built from one source dataset and keyed by today's province and a year."""
    found = {}
    for t in tables.values():
        if len(t["sources"]) != 1:
            continue
        source = t["sources"][0]
        for row in sql(
            f'select current_province_code as code, count(*) as n, max(year) as year from "{t["resource"]}" '
            f'where year = (select max(year) from "{t["resource"]}") group by 1'
        ):
            if row["code"]:
                found[(row["code"], source)] = (row["year"], row["n"])
    return found


def criteria_set_in_force(tables: dict[str, dict]) -> dict | None:
    """The commune set of the standard tier in force today (dim_criterion: the latest in force, as
    int_criteria_sets__by_year takes the later of two overlapping sets) and its criteria, in order."""
    if not (t := tables.get("dim_criterion")):
        return None
    found = sql(
        f"select criteria_set, max(set_title_vi) as title_vi, max(set_title_en) as title_en, "
        f'max(decision_no) as decision_no, max(in_force_from) as in_force_from from "{t["resource"]}" '
        "where set_level = 'commune' and set_tier = 'standard' and in_force_from <= current_date "
        "group by 1 order by max(in_force_from) desc, 1 limit 1"
    )
    if not found:
        return None
    criteria = sql(
        f"select criterion_no, max(criterion_name_vi) as name_vi, "
        f"max(name_en) filter (where indicator_code is null) as name_en "
        f'from "{t["resource"]}" where criteria_set = {literal(found[0]["criteria_set"])} '
        "group by 1 order by length(criterion_no), criterion_no"
    )
    return {**found[0], "criteria": criteria, "source": t}


def criteria_grid() -> dict:
    """/grid, second table: provinces × the criteria of the set in force. A cell: the province's latest
    year assessed against the set, at which levels, how many of its units have data (met or not met)
    for the criterion of those assessed, "missing" when none has; each province with the freshest of
    its departments' files the assessments are built from."""

    def compute():
        tables = published_tables()
        in_force = criteria_set_in_force(tables)
        if not in_force:
            return {"set": None, "rows": []}
        cells = _criteria_cells(tables, in_force["criteria_set"])
        fresh = _freshest_by_province(tables, tables.get("fact_commune_assessment"))
        rows = []
        for p in provinces():
            row = []
            for c in in_force["criteria"]:
                cell = cells.get((p["unit_code"], c["criterion_no"]))
                status = "present" if cell and cell["with_data"] else "missing"
                row.append({"criterion_no": c["criterion_no"], "status": status, "cell": cell})
            rows.append({**p, "cells": row, "freshness": fresh.get(p["unit_code"])})
        return {"set": in_force, "rows": rows}

    return _cached("criteria-grid:" + _signature(published_tables()), compute)


def _criteria_cells(tables: dict[str, dict], criteria_set: str) -> dict[tuple[str, str], dict]:
    """(province code, criterion no) -> {year, levels, with_data, assessed} in the province's latest
    year assessed against the set (fact_commune_assessment)."""
    if not (t := tables.get("fact_commune_assessment")):
        return {}
    in_set = f"criteria_set = {literal(criteria_set)} and current_province_code is not null"
    rows = sql(  # no CTE: datastore_search_sql takes each name after FROM for a table
        "select a.current_province_code as code, a.criterion_no, a.year, "
        "string_agg(distinct a.unit_level, ',' order by a.unit_level) as levels, "
        "count(distinct a.unit_key) filter (where a.status in ('met', 'not_met')) as with_data, "
        "count(distinct a.unit_key) as assessed "
        f'from "{t["resource"]}" a join (select current_province_code, max(year) as year from "{t["resource"]}" '
        f"where {in_set} group by 1) l on l.current_province_code = a.current_province_code and l.year = a.year "
        f"where a.{in_set.replace(' and ', ' and a.')} group by 1, 2, 3"
    )
    return {(r["code"], r["criterion_no"]): {**r, "levels": r["levels"].split(",")} for r in rows}


def _freshest_by_province(tables: dict[str, dict], mart: dict | None) -> dict[str, dict]:
    """province code -> the freshest row of fact_dataset_freshness among its departments' files of the
    datasets the mart is built from (none received: `missing`)."""
    if not mart or not (t := tables.get("fact_dataset_freshness")) or not mart["sources"]:
        return {}
    by_folder = {fold(p["short_name"] or "").replace(" ", "-"): p["unit_code"] for p in provinces()}
    rank = {status: i for i, status in enumerate(GRID_STATUSES)}
    found: dict[str, dict] = {}
    for row in sql(
        f"select department, dataset, status, age_days, never_received, last_received "
        f'from "{t["resource"]}" where dataset in ({", ".join(literal(s) for s in mart["sources"])})'
    ):
        code = _province_of_department(row["department"], by_folder)
        row = {**row, "status": "missing" if row["never_received"] else row["status"]}
        best = found.get(code)
        if code and (best is None or rank.get(row["status"], 99) < rank.get(best["status"], 99)):
            found[code] = row
    return found


# ---------------------------------------------------------------- indicator pages, commune profiles


def find_indicator(indicator_id: str) -> dict | None:
    return next((i for i in indicators() if i["id"] == indicator_id), None)


def indicator_table(indicator: dict) -> dict:
    """What an indicator page shows, tab by tab (chart, map, table, download): the provinces of
    today's map with a value in some year, one value per year (None: no data), by province name."""
    by_year = indicator_values(indicator)
    years = sorted(by_year)
    rows = [
        {
            "code": p["unit_code"],
            "key": p["unit_key"],
            "name": p["unit_name"],
            "cells": [by_year[y].get(p["unit_code"]) for y in years],
        }
        for p in provinces()
        if any(p["unit_code"] in by_year[y] for y in years)
    ]
    return {"years": years, "rows": rows, "by_year": by_year}


def _over_communes(indicator: dict) -> str | None:
    """SQL of the indicator over a set of commune rows (the country's, a commune group's), aggregated
    as it aggregates from communes to a province; None when it does not aggregate communes (a
    province's own reported figure)."""
    return None if indicator["aggregate"] == "value" else _aggregated(indicator, own_figure_first=False)


def commune_values(indicator: dict, within: str = "true") -> dict[str, float]:
    """year -> the indicator over every commune row (of the country, or `within` a SQL condition)."""
    value = _over_communes(indicator)
    if value is None:
        return {}
    where = " and ".join([*_filters(indicator), "unit_level = 'commune'", within])
    rows = sql(
        f"select {_year(indicator)} as year, {value} as value "
        f'from "{indicator["table"]["resource"]}" where {where} group by 1'
    )
    return {str(r["year"]): float(r["value"]) for r in rows if r["value"] is not None}


def group_values(indicator: dict, group, tables: dict[str, dict]) -> dict[str, float]:
    """year -> the indicator over the communes of one commune group (the group each commune's
    scorecard gives)."""
    if group in (None, "") or not (t := tables.get("fact_commune_scorecard")):
        return {}
    members = f'unit_key in (select unit_key from "{t["resource"]}" where commune_group = {literal(group)})'
    return commune_values(indicator, members)


def _matching(unit_key: str, table: str = "") -> str:
    """SQL: a row about this unit, or (a unit of 2025) about a unit it was formed from."""
    return f"({table}unit_key = {literal(unit_key)} or {table}current_unit_key = {literal(unit_key)})"


def commune_scorecards(unit_key: str, tables: dict[str, dict]) -> list[dict]:
    """The commune's scorecards (and those of the units it was formed from), latest first, each with
    its criteria and indicators: met or not, and the value and threshold behind each."""
    if not (t := tables.get("fact_commune_scorecard")):
        return []
    cards = sql(
        f"select unit_key, unit_name, year, criteria_set, criteria_set_title_vi, criteria_set_decision, "
        f"commune_group, criteria_met, criteria_not_met, criteria_no_data, criteria_total, meets_standard, "
        f'recognised_level, decision_no, decision_date, sources from "{t["resource"]}" '
        f"where {_matching(unit_key)} order by year desc, unit_name, criteria_set limit 50"
    )
    items: dict[tuple, list[dict]] = {}
    if (a := tables.get("fact_commune_assessment")) and cards:
        names = tables.get("dim_criterion")
        name = "d.criterion_name_vi, d.indicator_name_vi, d.name_en" if names else "null as criterion_name_vi"
        join = f'left join "{names["resource"]}" d on d.criterion_key = a.criterion_key' if names else ""
        for row in sql(
            f"select a.unit_key, a.year, a.criteria_set, a.criterion_no, a.indicator_code, a.comparison, "
            f"a.threshold, a.measured_value, a.status, a.status_from, a.department, {name} "
            f'from "{a["resource"]}" a {join} where {_matching(unit_key, "a.")} '
            "order by length(a.criterion_no), a.criterion_no, a.indicator_code limit 2000"
        ):
            items.setdefault((row["unit_key"], row["year"], row["criteria_set"]), []).append(row)
    return [{**c, "items": items.get((c["unit_key"], c["year"], c["criteria_set"]), []), "source": t} for c in cards]


def _own_province_figures(indicator: dict) -> set[tuple[str, str]]:
    """(province code, year) where the province's figure is its own reported one, not its communes'
    aggregate: always for `value`, where it reported one for `own_figure_first`."""
    if indicator["aggregate"] == "value":
        return {(code, year) for year, by_code in indicator_values(indicator).items() for code in by_code}
    if not indicator.get("own_figure_first"):
        return set()
    where = " and ".join([*_filters(indicator), "unit_level = 'province'", "current_province_code is not null"])
    rows = sql(
        f"select distinct current_province_code as code, {_year(indicator)} as year "
        f'from "{indicator["table"]["resource"]}" where {where}'
    )
    return {(r["code"], str(r["year"])) for r in rows}


def commune_figures(unit_key: str, group, tables: dict[str, dict]) -> list[dict]:
    """Each declared indicator the commune (or the units it was formed from) has values of: its rows
    (unit, year, value, department) beside, in the same year, its province's figure (and whether it
    is the province's own), its commune group's mean and the mean of the country's communes with
    data."""
    found = []
    for indicator in indicators():
        if indicator["aggregate"] == "share":  # a commune's own value is a status: its scorecard shows it
            continue
        where = " and ".join([*_filters(indicator), "unit_level = 'commune'", _matching(unit_key)])
        rows = sql(
            f'select *, {_year(indicator)} as year_of_value from "{indicator["table"]["resource"]}" '
            f"where {where} limit 200"
        )
        if not rows:
            continue
        province, own = indicator_values(indicator), _own_province_figures(indicator)
        country, in_group = {}, {}
        if indicator["aggregate"] == "mean":  # a sum of communes is no yardstick for one commune
            country, in_group = commune_values(indicator), group_values(indicator, group, tables)
        else:
            province = province if indicator["aggregate"] == "value" else {}
        shown = []
        for row in sorted(rows, key=lambda r: (r["year_of_value"], r["unit_name"])):
            year = str(row["year_of_value"])
            shown.append(
                {
                    "unit_key": row["unit_key"],
                    "unit_name": row["unit_name"],
                    "year": year,
                    "value": float(row[indicator["column"]]),
                    "department": row.get("department"),
                    "province_name": row.get("current_province_name"),
                    "province": (province.get(year) or {}).get(row.get("current_province_code")),
                    "province_own": (row.get("current_province_code"), year) in own,
                    "group": in_group.get(year),
                    "country": country.get(year),
                }
            )
        found.append({"indicator": indicator, "rows": shown, "group": group})
    return found


def commune_profile(unit: dict, tables: dict[str, dict]) -> dict:
    """A commune (of today's map or before 2025): its scorecards and its figures beside its province,
    its commune group and the country."""
    cards = commune_scorecards(unit["unit_key"], tables)
    group = next((c["commune_group"] for c in cards if c["commune_group"] not in (None, "")), None)
    return {"scorecards": cards, "figures": commune_figures(unit["unit_key"], group, tables), "group": group}
