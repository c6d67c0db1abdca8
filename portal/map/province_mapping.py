"""Step 1 of the map build: which province of 1 July 2025 each Natural Earth admin-1 feature
belongs to, joined on its ISO 3166-2 code (never on Natural Earth's names: three of them are wrong,
e.g. VN-39 is called "Đông Nam Bộ" there, not Đồng Nai).

ISO code -> the ISO name (pycountry) -> the province of the 2024 list (the project's resolver, as
ingest resolves names) -> its province of 2025 (vietnamadminunits' official province mapping).
Writes province_mapping.json beside this file, and the coordinates of today's 3,321 communes
(vietnamadminunits) for the portal's commune points. Run: see README.md here."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pycountry

from ntm_core.units import reference
from ntm_core.units.names import plain_key
from ntm_core.units.resolver import resolve

HERE = Path(__file__).resolve().parent
# Beside the boundaries (public/ntm/map/), not under a `data/` folder: .gitignore leaves every `data/` out.
POINTS = HERE.parent / "ckanext-ntm" / "ckanext" / "ntm" / "public" / "ntm" / "map" / "communes-2025.json"
# ISO 3166-2 still names VN-26 "Thừa Thiên-Huế"; the unit lists of vietnamadminunits know it only as
# "Thành phố Huế" (code 46, in both lists), a name the resolver cannot reach from the old one.
ISO_NAMES_THE_LISTS_DO_NOT_USE = {"VN-26": "Thành phố Huế"}


def old_province(iso_name: str):
    # ISO writes "Thừa Thiên-Huế" and spells one name "Kiến Giang": then without the hyphen, then
    # without diacritics, and always one province or none.
    for written in (iso_name, iso_name.replace("-", " "), plain_key(iso_name.replace("-", " "))):
        got = resolve(written, level="province", list_version="2024")
        if got.status == "matched":
            return got.unit
    raise SystemExit(f"{iso_name}: {got.status} {[c.path for c in got.candidates]}")


def main() -> None:
    units = reference.units_by_key()
    provinces_2025 = {
        u.ascii_name.replace(" ", ""): u for u in units.values() if u.level == "province" and u.list_version == "2025"
    }
    converter = json.loads((reference._package_dir() / "converter_2025.json").read_text(encoding="utf-8"))
    new_of_old = {old: provinces_2025[new] for new, olds in converter["DICT_PROVINCE"].items() for old in olds}
    mapping = {}
    for sub in sorted(pycountry.subdivisions.get(country_code="VN"), key=lambda s: s.code):
        old = old_province(ISO_NAMES_THE_LISTS_DO_NOT_USE.get(sub.code, sub.name))
        new = new_of_old[units[old.key].ascii_name.replace(" ", "")]
        mapping[sub.code] = {"old_code": old.code, "old_name": old.name, "code": new.code, "name": new.name}
    assert len({m["code"] for m in mapping.values()}) == 34, "every province of 2025 gets at least one feature"
    (HERE / "province_mapping.json").write_text(
        json.dumps(mapping, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(mapping)} ISO codes -> {len({m['code'] for m in mapping.values()})} provinces of 2025")


def write_commune_points() -> None:
    """unit_key -> [lat, lon] for every commune of the list of 1 July 2025."""
    with sqlite3.connect(reference._package_dir() / "dataset.db") as con:
        rows = con.execute("select wardCode, wardLat, wardLon from admin_units order by wardCode").fetchall()
    points = {reference.unit_key("2025", "commune", code): [lat, lon] for code, lat, lon in rows}
    POINTS.parent.mkdir(parents=True, exist_ok=True)
    POINTS.write_text(json.dumps(points, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(points)} commune points -> {POINTS}")


if __name__ == "__main__":
    write_commune_points()
    main()
