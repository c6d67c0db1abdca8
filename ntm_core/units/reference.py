"""The official unit lists and the 2025 crosswalk, read from the `vietnamadminunits` package.

Two lists: `2024` (in force until 30 June 2025: 63 provinces, 696 districts, 10,035 communes)
and `2025` (from 1 July 2025: 34 provinces, 3,321 communes, no districts). A code means nothing
without its list (03664 is Xã Chiềng Xôm in 2024 and Phường Chiềng An in 2025), so every unit
key carries the list version: `2024:commune:03664`.

The crosswalk maps each 2024 commune (and the five island districts without communes) to its
2025 successor(s), from the package's conversion tables, and checks them against the codes:
where the two sources of evidence disagree the row is flagged for review, not silently fixed.

`name_variants.csv` beside this file lists written forms of names the lists do not carry (a former
name, `Thừa Thiên Huế`), each pointing at an official name that must be in the lists.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ntm_core.units.names import nfc, plain_key

OLD, NEW = "2024", "2025"
VARIANTS = Path(__file__).with_name("name_variants.csv")
REORGANISATION = dt.date(2025, 7, 1)
VALIDITY = {OLD: (None, dt.date(2025, 6, 30)), NEW: (REORGANISATION, None)}


@dataclass(frozen=True)
class Unit:
    key: str  # "<list>:<level>:<code>", unambiguous across lists
    code: str
    list_version: str
    level: str  # province | district | commune
    unit_type: str  # Tỉnh, Thành phố, Huyện, Quận, Thị xã, Xã, Phường, Thị trấn, Đặc khu
    name: str  # official, NFC, with its type: "Xã Chiềng Xôm"
    short_name: str  # without the type: "Chiềng Xôm"
    parent_key: str | None
    province_key: str

    @property
    def ascii_name(self) -> str:
        return plain_key(self.name)


@dataclass(frozen=True)
class CrosswalkRow:
    old_key: str
    new_key: str
    relation: str  # unchanged | merged_whole | split_part
    is_main_successor: bool
    needs_review: bool
    review_reason: str | None


def _package_dir() -> Path:
    """The package's data folder, found without importing the package (its parser imports pandas,
    a second or more at every start)."""
    from importlib.util import find_spec

    return Path(find_spec("vietnamadminunits").origin).parent / "data"


def unit_key(list_version: str, level: str, code: str) -> str:
    return f"{list_version}:{level}:{code}"


TYPE_WORDS = ("Thành phố", "Thị trấn", "Thị xã", "Đặc khu", "Phường", "Huyện", "Quận", "Tỉnh", "Xã")


def _typed(name: str, package_type: str | None) -> tuple[str, str]:
    """(type, name without its type word) from the official name, which is authoritative: the
    package's own type and short name are uneven ('Phường 5' of Phú Nhuận is typed 'Xã' there)."""
    name = nfc(name)
    for word in TYPE_WORDS:
        if name.casefold().startswith(word.casefold() + " "):  # "Thành Phố Bắc Kạn" too
            return word, name[len(word) + 1 :]
    return package_type or "", name


def _unit(
    list_version: str,
    level: str,
    code: str,
    name: str,
    package_type: str | None,
    parent_key: str | None,
    province_key: str | None,
) -> Unit:
    unit_type, short = _typed(name, package_type)
    key = unit_key(list_version, level, code)
    return Unit(key, code, list_version, level, unit_type, nfc(name), short, parent_key, province_key or key)


@lru_cache(maxsize=1)
def load_units() -> tuple[Unit, ...]:
    con = sqlite3.connect(_package_dir() / "dataset.db")
    units: dict[str, Unit] = {}
    for prov, prov_code, dist, dist_type, dist_code, ward, ward_type, ward_code in con.execute(
        "SELECT province, provinceCode, district, districtType, districtCode, ward, wardType, wardCode "
        "FROM admin_units_legacy"
    ):
        province = _unit(OLD, "province", prov_code, prov, None, None, None)
        district = _unit(OLD, "district", dist_code, dist, dist_type, province.key, province.key)
        units.setdefault(province.key, province)
        units.setdefault(district.key, district)
        if ward_code:  # the five island districts have no communes
            commune = _unit(OLD, "commune", ward_code, ward, ward_type, district.key, province.key)
            units.setdefault(commune.key, commune)
    for prov, prov_code, ward, ward_type, ward_code in con.execute(
        "SELECT province, provinceCode, ward, wardType, wardCode FROM admin_units"
    ):
        province = _unit(NEW, "province", prov_code, prov, None, None, None)
        commune = _unit(NEW, "commune", ward_code, ward, ward_type, province.key, province.key)
        units.setdefault(province.key, province)
        units.setdefault(commune.key, commune)
    return tuple(units.values())


@lru_cache(maxsize=1)
def provinces_of_2025() -> tuple[Unit, ...]:
    """Today's 34 provinces, as `load_units` gives them, without building the 36,000 units of both
    lists (a third of a second): the department registry needs only these."""
    con = sqlite3.connect(_package_dir() / "dataset.db")
    rows = con.execute("SELECT DISTINCT province, provinceCode FROM admin_units ORDER BY provinceCode")
    return tuple(_unit(NEW, "province", code, name, None, None, None) for name, code in rows)


@lru_cache(maxsize=1)
def units_by_key() -> dict[str, Unit]:
    return {u.key: u for u in load_units()}


def list_version_for(date: dt.date | None) -> str | None:
    if date is None:
        return None
    return OLD if date < REORGANISATION else NEW


@lru_cache(maxsize=1)
def build_crosswalk() -> tuple[CrosswalkRow, ...]:
    con = sqlite3.connect(_package_dir() / "dataset.db")
    old_by_name_key: dict[str, str] = {}
    old_codes: dict[str, str] = {}  # commune code -> key, for the code cross-check
    for prov_key, dist_key, ward_key, dist_code, ward_code in con.execute(
        "SELECT provinceKey, districtKey, wardKey, districtCode, wardCode FROM admin_units_legacy"
    ):
        name_key = f"{prov_key}_{dist_key}_{ward_key or ''}"
        key = unit_key(OLD, "commune", ward_code) if ward_code else unit_key(OLD, "district", dist_code)
        old_by_name_key[name_key] = key
        if ward_code:
            old_codes[ward_code] = key
    new_by_name_key = {
        f"{p}_{w}": unit_key(NEW, "commune", c)
        for p, w, c in con.execute("SELECT provinceKey, wardKey, wardCode FROM admin_units")
    }
    converter = json.loads((_package_dir() / "converter_2025.json").read_text(encoding="utf-8"))

    links: list[tuple[str | None, str | None, str, bool, str]] = []  # old, new, relation, main, source text
    for new_prov, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, olds in wards.items():
            relation = "unchanged" if len(olds) == 1 else "merged_whole"
            for old in olds:
                links.append(
                    (
                        old_by_name_key.get(old),
                        new_by_name_key.get(f"{new_prov}_{new_ward}"),
                        relation,
                        True,
                        f"{old} -> {new_prov}_{new_ward}",
                    )
                )
    for new_prov, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, parts in olds.items():
            for part in parts:
                new_name = f"{new_prov}_{part['newWardKey']}"
                links.append(
                    (
                        old_by_name_key.get(old),
                        new_by_name_key.get(new_name),
                        "split_part",
                        bool(part["isDefaultNewWard"]),
                        f"{old} -> {new_name}",
                    )
                )

    units = units_by_key()
    sources: dict[str, set[str]] = {}
    for old, new, *_ in links:
        if old and new:
            sources.setdefault(new, set()).add(old)

    rows: list[CrosswalkRow] = []
    for old, new, relation, main, text in links:
        if not old or not new:
            missing = "old unit" if not old else "new unit"
            rows.append(
                CrosswalkRow(
                    old or f"?{text}",
                    new or f"?{text}",
                    relation,
                    main,
                    True,
                    f"{missing} of '{text}' is not in the official list",
                )
            )
            continue
        reason = None
        # Code evidence: most new communes kept the code of one of the communes merged into them.
        # If that old commune is not among this new commune's sources, the name-based link is doubtful.
        code_owner = old_codes.get(units[new].code)
        if code_owner and code_owner not in sources[new] and units[code_owner].province_key != units[old].province_key:
            reason = (
                f"new code {units[new].code} was the code of {units[code_owner].name} "
                f"({units[units[code_owner].province_key].name}), which is not mapped to it"
            )
        rows.append(CrosswalkRow(old, new, relation, main, reason is not None, reason))
    return tuple(rows)


def crosswalk_checks() -> dict[str, int]:
    """Counts that describe the crosswalk: every old commune must have a successor."""
    rows = build_crosswalk()
    olds = {u.key for u in load_units() if u.list_version == OLD and u.level == "commune"}
    mapped_old = {r.old_key for r in rows}
    news = {u.key for u in load_units() if u.list_version == NEW and u.level == "commune"}
    mapped_new = {r.new_key for r in rows}
    return {
        "rows": len(rows),
        "old_communes_without_successor": len(olds - mapped_old),
        "new_communes_without_source": len(news - mapped_new),
        "rows_needing_review": sum(r.needs_review for r in rows),
        "split_parts": sum(r.relation == "split_part" for r in rows),
    }


@lru_cache(maxsize=1)
def name_variants() -> tuple[tuple[str, str], ...]:
    """(written form, unit key) for each row of name_variants.csv, in every list that has its official
    name at its level; a row whose official name is in no list is an error, not a silent miss."""
    by_name: dict[tuple[str, str], list[str]] = {}
    for unit in load_units():
        by_name.setdefault((unit.level, unit.name), []).append(unit.key)
    out = []
    with open(VARIANTS, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            keys = by_name.get((row["level"], nfc(row["official"])))
            if not keys:
                raise ValueError(f"{VARIANTS.name}: {row['official']} is not an official {row['level']} name")
            out += [(nfc(row["written"]), key) for key in keys]
    return tuple(out)
