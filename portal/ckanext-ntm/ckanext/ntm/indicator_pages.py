"""Indicator pages (`/indicators`, `/indicator/<id>`), in the manner of Our World in Data's grapher:
one page per declared indicator with a chart, a map, a table and a download of exactly the table's
rows; and what a commune's profile needs to say its figures in words and draw them. The numbers come
from portal_data (the published tables, as each indicator's `meta.indicator` declares); the map is
an SVG drawn here (it reads without JavaScript), the charts are drawn by Observable Plot (vendored)
from JSON in the page."""

from __future__ import annotations

import csv
import io
import json
import math
from functools import lru_cache
from pathlib import Path

import ckan.plugins.toolkit as tk
from flask import Response
from markupsafe import Markup

from ckanext.ntm import portal_data
from ckanext.ntm.language import lang as _lang
from ckanext.ntm.language import number, with_unit
from ckanext.ntm.language import text as _text

GEOJSON = Path(__file__).resolve().parent / "public" / "ntm" / "map" / "provinces-2025.geojson"
MAP_WIDTH = 420


def json_markup(data) -> Markup:
    """JSON for a <script type="application/json">: no "<" in it, so no text can close the element."""
    return Markup(json.dumps(data, ensure_ascii=False).replace("<", "\\u003c"))


# ---------------------------------------------------------------- comparisons in words

# Whom a commune's figure is compared with, always in the same year as the figure. "The country" is
# the mean of the communes with a figure that year, not a national statistic: the words say so.
WHOM = {
    "province": ("mức trung bình tỉnh cùng năm", "the province average the same year"),
    "province_own": ("mức tỉnh báo cáo cùng năm", "the province's own figure the same year"),
    "group": ("mức trung bình nhóm xã {group} cùng năm", "the average of commune group {group} the same year"),
    "country": (
        "trung bình các xã có số liệu trên cả nước cùng năm",
        "the mean of communes with data nationwide the same year",
    ),
}


def comparison(value: float, reference, whom: str, unit: str, group=None) -> str | None:
    """ "thấp hơn mức trung bình tỉnh cùng năm (49,3 %)" / "below the province average the same year
    (49.3%)"; None without a reference figure. Equal when both round to the same shown figure."""
    if reference is None:
        return None
    lang = _lang()
    if number(value, "en") == number(reference, "en"):
        word = _text("bằng", "equal to")
    elif value > reference:
        word = _text("cao hơn", "above")
    else:
        word = _text("thấp hơn", "below")
    vi, en = WHOM[whom]
    name = (en if lang == "en" else vi).format(group=group)
    return f"{word} {name} ({with_unit(reference, unit, lang)})"


def commune_sentence(row: dict, indicator: dict, group=None) -> str:
    """The commune's figure, its year, and how it compares with the figures of that year: "46,3 % (năm
    2023) — thấp hơn mức trung bình tỉnh cùng năm (49,3 %); …"."""
    unit = indicator.get("unit", "")
    parts = [
        comparison(row["value"], row["province"], "province_own" if row.get("province_own") else "province", unit),
        comparison(row["value"], row["group"], "group", unit, group),
        comparison(row["value"], row["country"], "country", unit),
    ]
    said = "; ".join(p for p in parts if p)
    shown = f"{with_unit(row['value'], unit)} ({_text('năm', 'in')} {row['year']})"
    return f"{shown} — {said}" if said else shown


# ---------------------------------------------------------------- charts (drawn by ntm-charts.js)


def chart_spec(years: list[str], series: list[dict], indicator: dict, alt: str) -> dict:
    """What ntm-charts.js draws: one line (and dots) per series over the years."""
    lang = _lang()
    return {
        "years": years,
        "series": series,
        "unit": indicator.get("unit", ""),
        "y_label": indicator.get("label_en" if lang == "en" else "label_vi") or indicator["column"],
        "x_label": _text("Năm", "Year"),
        "lang": lang,
        "alt": alt,
    }


def indicator_chart(indicator: dict, table: dict) -> dict:
    label = _text(indicator.get("label_vi", ""), indicator.get("label_en", ""))
    alt = _text(
        f"Biểu đồ đường: {label} của {len(table['rows'])} tỉnh, thành phố qua các năm {', '.join(table['years'])}. "
        "Số liệu đầy đủ ở thẻ Bảng.",
        f"Line chart: {label} for {len(table['rows'])} provinces over the years {', '.join(table['years'])}. "
        "The full figures are in the Table tab.",
    )
    series = [{"name": r["name"], "values": r["cells"]} for r in table["rows"]]
    return chart_spec(table["years"], series, indicator, alt)


def commune_chart(figure: dict) -> dict:
    """A commune figure's small chart: the commune (or each unit it was formed from), its province,
    its commune group and the country, over the years."""
    rows, indicator = figure["rows"], figure["indicator"]
    province_name = next((r["province_name"] for r in rows if r.get("province_name")), _text("Tỉnh", "Province"))
    years = sorted({r["year"] for r in rows})
    series = []
    for name in sorted({r["unit_name"] for r in rows}):
        by_year = {r["year"]: r["value"] for r in rows if r["unit_name"] == name}
        series.append({"name": name, "values": [by_year.get(y) for y in years]})
    for key, vi, en in (
        ("province", province_name, province_name),
        ("group", f"Nhóm xã {figure['group']}", f"Commune group {figure['group']}"),
        ("country", "Cả nước (trung bình các xã có số liệu)", "Country (mean of communes with data)"),
    ):
        by_year = {r["year"]: r[key] for r in rows}
        if any(v is not None for v in by_year.values()):
            series.append({"name": _text(vi, en), "values": [by_year.get(y) for y in years]})
    label = _text(indicator.get("label_vi", ""), indicator.get("label_en", ""))
    alt = _text(
        f"Biểu đồ: {label} của xã so với tỉnh và cả nước, các năm {', '.join(years)}; số liệu ở bảng bên cạnh.",
        f"Chart: {label} of the commune beside its province and the country, {', '.join(years)}; "
        "the figures are in the table beside it.",
    )
    return chart_spec(years, series, indicator, alt)


# ---------------------------------------------------------------- the map (SVG, no JavaScript)


@lru_cache(maxsize=1)
def _province_shapes() -> tuple[dict, ...]:
    """Each province of today's map as an SVG path (equirectangular, scaled by the cosine of the
    middle latitude), with the view box's height."""
    features = json.loads(GEOJSON.read_text(encoding="utf-8"))["features"]
    rings = []
    for f in features:
        geometry = f["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        rings.append((f["properties"], [ring for polygon in polygons for ring in polygon]))
    points = [pt for _, rs in rings for ring in rs for pt in ring]
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    squeeze = math.cos(math.radians((north + south) / 2))
    scale = MAP_WIDTH / ((east - west) * squeeze)

    def path(ring):
        xy = [f"{(lon - west) * squeeze * scale:.1f},{(north - lat) * scale:.1f}" for lon, lat in ring]
        return "M" + "L".join(xy) + "Z"

    height = (north - south) * scale
    return tuple(
        {"code": props["code"], "name": props["name"], "d": "".join(path(r) for r in rs), "height": height}
        for props, rs in rings
    )


def _colour(value: float, bounds: list[tuple[float, float, str]]) -> str:
    return next((c for low, high, c in bounds if value <= high), bounds[-1][2])


def choropleth(indicator: dict, values: dict[str, float]) -> dict:
    """The map of one year: each province with its value and colour ("no data": hatched), the legend's
    classes, the SVG's height."""
    bounds = portal_data.classes(list(values.values()))  # the ramp of portal_data, the map's too
    shapes = _province_shapes()
    provinces = [
        {
            **s,
            "value": values.get(s["code"]),
            "fill": _colour(values[s["code"]], bounds) if s["code"] in values else None,
        }
        for s in shapes
    ]
    return {"provinces": provinces, "classes": bounds, "width": MAP_WIDTH, "height": round(shapes[0]["height"])}


# ---------------------------------------------------------------- views


def indicators_view():
    found = portal_data.indicators()
    latest = {i["id"]: max(portal_data.indicator_values(i), default=None) for i in found}
    return tk.render("ntm/indicators.html", extra_vars={"indicators": found, "latest": latest})


def _indicator_or_404(indicator_id: str) -> dict:
    indicator = portal_data.find_indicator(indicator_id)
    if indicator is None:
        tk.abort(404, _text("Không tìm thấy chỉ số", "Indicator not found"))
    return indicator


def indicator_view(indicator_id: str):
    indicator = _indicator_or_404(indicator_id)
    table = portal_data.indicator_table(indicator)
    year = tk.request.args.get("year") or (table["years"][-1] if table["years"] else None)
    if year not in table["years"]:
        year = table["years"][-1] if table["years"] else None
    shown_map = choropleth(indicator, table["by_year"].get(year, {}) if year else {})
    extra = {
        "indicator": indicator,
        "table": table,
        "year": year,
        "map": shown_map,
        "chart": indicator_chart(indicator, table),
    }
    return tk.render("ntm/indicator.html", extra_vars=extra)


def table_rows(indicator: dict, table: dict) -> tuple[list[str], list[list]]:
    """The table as the page shows it (header, rows): province code, province, one column per year."""
    header = [_text("Mã tỉnh", "Province code"), _text("Tỉnh, thành phố", "Province"), *table["years"]]
    return header, [[r["code"], r["name"], *r["cells"]] for r in table["rows"]]


def indicator_csv(indicator_id: str):
    """The table's rows as CSV (UTF-8 with BOM, so Excel reads the diacritics): numbers with a dot."""
    indicator = _indicator_or_404(indicator_id)
    header, rows = table_rows(indicator, portal_data.indicator_table(indicator))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[("" if v is None else v) for v in row] for row in rows])
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="ntm-{indicator_id}.csv"'},
    )


def indicator_xlsx(indicator_id: str):
    indicator = _indicator_or_404(indicator_id)
    header, rows = table_rows(indicator, portal_data.indicator_table(indicator))
    return Response(
        workbook([header, *rows], _text("Chỉ số", "Indicator")),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="ntm-{indicator_id}.xlsx"'},
    )


# ---------------------------------------------------------------- the XLSX download


def workbook(rows: list[list], sheet: str) -> bytes:
    """One sheet of rows: text stays text (never a formula, a number or a link, whatever it starts
    with), numbers are numbers."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    worksheet = book.add_worksheet(sheet[:31])
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                worksheet.write_number(r, c, value)
            elif value is not None:
                worksheet.write_string(r, c, str(value))
    book.close()
    return out.getvalue()
