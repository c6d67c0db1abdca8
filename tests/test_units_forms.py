"""Unit names as forms arrive after July 2025 (issue #27), through `ntm units resolve`'s function.

The list is generated from the official lists the project has (`ntm_core.units.reference`, and the
2025 crosswalk seed for the old territories), each form written from a picked unit with that unit as
its key: bare codes (two digits, zeros lost, in full), a 2025 commune under its pre-2025 province or
district, abbreviated and variant province and ward names (`TP.HCM`, `Thừa Thiên Huế`, `P.14`,
`Phường 04` / `Phường IV`), a hamlet under its commune, English word order (`Van Ban commune, Phu Tho
province`). A form that fits several official units (no diacritics, two units of one name) keys the
unit it was written from and must come back ambiguous with it among the candidates, never matched.
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from ntm_core.settings import DBT_SEEDS
from ntm_core.units import reference as ref

LATER, EARLIER = "2026-03-15", "2023-05-31"  # after and before 1 July 2025
HAMLET_WORDS = ("Thôn", "Bản", "Ấp", "Tổ dân phố", "Khu phố", "Buôn", "Làng", "Sóc")
ENGLISH = {"Xã": "commune", "Phường": "ward", "Tỉnh": "province", "Thành phố": "city"}
DISTRICT_WORDS = {"Quận": "District", "Huyện": "District", "Thị xã": "Town", "Thành phố": "City"}
HCM_FORMS = ("TP.HCM", "TP HCM", "TPHCM", "Tp. Hồ Chí Minh", "TP. Hồ Chí Minh", "Tp Hồ Chí Minh")
# The province's name until 2025, as forms and ISO 3166-2 (VN-26) still write it; the lists know
# only "Thành phố Huế" (see portal/map/province_mapping.py).
HUE_FORMS = ("Thừa Thiên Huế", "Tỉnh Thừa Thiên Huế", "Thừa Thiên - Huế", "TP Huế")
ABBREVIATED = {"Xã": "X.", "Phường": "P.", "Thị trấn": "TT.", "Huyện": "H.", "Quận": "Q.", "Thị xã": "TX."}
ABBREVIATED |= {"Thành phố": "TP.", "Tỉnh": "T."}
ROMAN = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def plain(text: str) -> str:
    out = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return out.replace("đ", "d").replace("Đ", "D")


def roman(number: int) -> str:
    out = ""
    for value, letters in ROMAN:
        while number >= value:
            out, number = out + letters, number - value
    return out


def abbreviated(unit: ref.Unit, rng: random.Random) -> str:
    short = ABBREVIATED[unit.unit_type]
    return rng.choice([f"{short} {unit.short_name}", f"{short}{unit.short_name}", f"{short[:-1]} {unit.short_name}"])


def province_form(unit: ref.Unit, rng: random.Random) -> str:
    """How a province is written on a form: its abbreviation, its common variants."""
    if unit.code == "79":
        return rng.choice(HCM_FORMS)
    if unit.code == "46":
        return rng.choice(HUE_FORMS)
    typed = f"Tp {unit.short_name}" if unit.unit_type == "Thành phố" else f"tinh {plain(unit.short_name).lower()}"
    return rng.choice([abbreviated(unit, rng), typed, unit.name])


class Lists:
    """The official lists and the old territories (2025 communes each old unit became), from the seeds."""

    def __init__(self) -> None:
        self.units = ref.load_units()
        self.by_key = ref.units_by_key()
        self.of = {}
        for unit in self.units:
            self.of.setdefault((unit.list_version, unit.level), []).append(unit)
        self.territory: dict[str, set[str]] = {}  # old province or district key -> new commune keys
        with open(DBT_SEEDS / "admin_units" / "admin_unit_crosswalk.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                old = self.by_key.get(row["old_unit_key"])
                if old is None or row["new_unit_key"] not in self.by_key:
                    continue
                for key in {old.parent_key, old.province_key, old.key}:
                    self.territory.setdefault(key, set()).add(row["new_unit_key"])

    def province(self, unit: ref.Unit) -> ref.Unit:
        return self.by_key[unit.province_key]

    def district(self, unit: ref.Unit) -> ref.Unit | None:
        parent = self.by_key.get(unit.parent_key or "")
        return parent if parent and parent.level == "district" else None

    def namesakes(self, unit: ref.Unit, within: set[str], key=lambda u: u.name.casefold()) -> list[str]:
        return [k for k in within if key(self.by_key[k]) == key(unit)]


def form(name="", parent="", grandparent="", code="", date="", *, unit, kind, hamlet="", fits=None) -> dict:
    return {
        "name": name,
        "parent": parent,
        "grandparent": grandparent,
        "code": code,
        "date": date,
        "kind": kind,
        "expected": unit.key,
        "expected_hamlet": hamlet,
        "fits": len(fits) if fits else 1,
    }


def code_forms(lists: Lists, rng: random.Random) -> list[dict]:
    out = []
    for version, date in ((ref.NEW, LATER), (ref.OLD, EARLIER)):
        for province in lists.of[(version, "province")]:  # a two-digit code is a province
            out.append(form(code=province.code, date=date, unit=province, kind="code: two digits"))
        lost = [u for u in lists.of[(version, "commune")] if u.code.startswith("0") and int(u.code) >= 1000]
        for unit in rng.sample(lost, 60):  # Excel dropped the leading zero
            out.append(form(code=unit.code.lstrip("0"), date=date, unit=unit, kind="code: zeros lost"))
        for unit in rng.sample(lists.of[(version, "commune")], 40):
            out.append(form(code=unit.code, date=date, unit=unit, kind="code: in full"))
    for unit in rng.sample(lists.of[(ref.OLD, "district")], 30):
        out.append(form(code=unit.code, date=EARLIER, unit=unit, kind="code: district"))
    return out


def old_parent_forms(lists: Lists, rng: random.Random) -> list[dict]:
    """A 2025 commune under the province or district it lay in before the merger."""
    out = []
    for old in lists.of[(ref.OLD, "province")]:
        within = lists.territory[old.key]
        for key in rng.sample(sorted(within), min(5, len(within))):
            unit = lists.by_key[key]
            fits = lists.namesakes(unit, within)
            out.append(form(unit.name, old.name, "", "", LATER, unit=unit, kind="old province as parent", fits=fits))
    for old in rng.sample(lists.of[(ref.OLD, "district")], 120):
        within = lists.territory.get(old.key, set())
        for key in rng.sample(sorted(within), min(2, len(within))):
            unit = lists.by_key[key]
            fits = lists.namesakes(unit, within)
            province = lists.province(old)
            out.append(
                form(unit.name, old.name, province.name, "", LATER, unit=unit, kind="old district as parent", fits=fits)
            )
    return out


def variant_forms(lists: Lists, rng: random.Random) -> list[dict]:
    """Provinces and wards as forms abbreviate and spell them."""
    out = []
    for version, date in ((ref.NEW, LATER), (ref.OLD, EARLIER)):
        for province in lists.of[(version, "province")]:
            out.append(form(province_form(province, rng), date=date, unit=province, kind="province variant"))
        for province in (lists.by_key[ref.unit_key(version, "province", c)] for c in ("79", "46")):
            for written in HCM_FORMS if province.code == "79" else HUE_FORMS:
                out.append(form(written, date=date, unit=province, kind="province variant"))
    communes = lists.of[(ref.NEW, "commune")]
    special = [u for u in communes if lists.province(u).code in ("79", "46")]
    for unit in rng.sample(communes, 120) + rng.sample(special, 40):
        province = lists.province(unit)
        name = rng.choice([unit.name, abbreviated(unit, rng)]) if unit.unit_type in ABBREVIATED else unit.name
        within = {u.key for u in communes if u.province_key == province.key}
        fits = lists.namesakes(unit, within)
        out.append(form(name, "", province_form(province, rng), "", LATER, unit=unit, kind="abbreviations", fits=fits))
    for unit in lists.of[(ref.OLD, "commune")]:
        number = _ward_number(unit)
        if number is None:
            continue
        district, province = lists.district(unit), lists.province(unit)
        parent = rng.choice([abbreviated(district, rng), district.name])
        for written in rng.sample(
            [
                f"P.{number}",
                f"P{number}",
                f"Phường {number:02d}",
                f"Phường {roman(number)}",
                f"Phường {number}",
                f"P. {number:02d}",
            ],
            2,
        ):
            out.append(form(written, parent, province_form(province, rng), "", EARLIER, unit=unit, kind="ward number"))
    return out


def _ward_number(unit: ref.Unit) -> int | None:
    if unit.unit_type != "Phường":
        return None
    if unit.short_name.isdigit():
        return int(unit.short_name)
    arabic = {letters: value for value, letters in ((n, roman(n)) for n in range(1, 31))}
    return arabic.get(unit.short_name)


def hamlet_forms(lists: Lists, rng: random.Random) -> list[dict]:
    """A hamlet with its commune: the commune is the unit; the hamlet is often named like another commune."""
    out = []
    for version, date, count in ((ref.NEW, LATER, 150), (ref.OLD, EARLIER, 60)):
        communes = lists.of[(version, "commune")]
        for i, unit in enumerate(rng.sample(communes, count)):
            province, district = lists.province(unit), lists.district(unit)
            namesake = rng.choice([u for u in communes if u.province_key == unit.province_key and u != unit])
            hamlet = f"{HAMLET_WORDS[i % len(HAMLET_WORDS)]} {namesake.short_name}"
            upper = [district.name, province.name] if district else [province.name]
            shape = i % 3
            if shape == 0:
                row = (hamlet, unit.name, upper[0])
            elif shape == 1:
                row = (f"{hamlet}, {unit.name}", *upper, "")[:3]
            else:
                row = (", ".join([hamlet, unit.name, *upper]), "", "")
            out.append(form(*row, "", date, unit=unit, kind="hamlet", hamlet=hamlet))
    return out


def english_forms(lists: Lists, rng: random.Random) -> list[dict]:
    """English word order and words: `Van Ban commune, Phu Tho province`, `Ward 14, District 3, Ho Chi Minh City`."""
    out = []
    communes = [u for u in lists.of[(ref.NEW, "commune")] if u.unit_type in ENGLISH]
    for i, unit in enumerate(rng.sample(communes, 150)):
        province = lists.province(unit)
        name = f"{plain(unit.short_name)} {ENGLISH[unit.unit_type]}"
        parent = f"{plain(province.short_name)} {ENGLISH[province.unit_type]}"
        if i % 2:
            name, parent = name.title(), parent.title()
        within = {u.key for u in communes if u.province_key == province.key}
        fits = lists.namesakes(unit, within, key=lambda u: (u.unit_type, plain(u.short_name).casefold()))
        row = (name, parent, "") if i % 3 else (f"{name}, {parent}", "", "")
        out.append(form(*row, "", LATER, unit=unit, kind="English", fits=fits))
    wards = [u for u in lists.of[(ref.OLD, "commune")] if u.unit_type == "Phường" and u.short_name.isdigit()]
    for unit in rng.sample(wards, 50):
        district, province = lists.district(unit), lists.province(unit)
        if district.short_name.isdigit():
            words = f"District {district.short_name}"
        else:
            words = f"{plain(district.short_name)} {DISTRICT_WORDS[district.unit_type]}"
        city = f"{plain(province.short_name)} {ENGLISH[province.unit_type]}".title()
        out.append(form(f"Ward {unit.short_name}, {words}, {city}", "", "", "", EARLIER, unit=unit, kind="English"))
    for province in lists.of[(ref.NEW, "province")]:
        written = f"{plain(province.short_name)} {ENGLISH[province.unit_type]}"
        out.append(
            form(written.title() if province.code < "50" else written, date=LATER, unit=province, kind="English")
        )
    return out


def generated_forms(seed: int = 27) -> list[dict]:
    lists, rng = Lists(), random.Random(seed)
    return [
        *code_forms(lists, rng),
        *old_parent_forms(lists, rng),
        *variant_forms(lists, rng),
        *hamlet_forms(lists, rng),
        *english_forms(lists, rng),
    ]


INPUT_COLUMNS = ["name", "parent", "grandparent", "code", "date"]


def run_resolve(rows: list[dict], folder: Path) -> list[dict]:
    """The rows through `ntm units resolve`'s function; its output rows, in order."""
    from ingest.units.cli import resolve_csv

    source, target = folder / "forms.csv", folder / "resolved.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INPUT_COLUMNS)
        writer.writeheader()
        writer.writerows({c: row[c] for c in INPUT_COLUMNS} for row in rows)
    resolve_csv(source, target)
    with open(target, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


CANDIDATE = re.compile(r"^(\S+) .* \((\d{4})\)$")


def outcome(row: dict, got: dict) -> str:
    """right | first (held back, the right unit offered first) | several (a form that fits several
    units held back with its unit among them) | listed (among the candidates, not first) | wrong
    (matched another unit, or matched a form that fits several) | missed.

    The unit is told by its list and code (a code's width says its level)."""
    version, _, code = row["expected"].split(":")
    if got["status"] == "matched":
        right = (got["list_version"], got["unit_code"]) == (version, code) and row["fits"] == 1
        return "right" if right and got.get("hamlet", row["expected_hamlet"]) == row["expected_hamlet"] else "wrong"
    offered = [m.groups() for m in (CANDIDATE.match(c) for c in got["candidates"].split("; ")) if m]
    if row["fits"] > 1 and got["status"] == "ambiguous" and (code, version) in offered:
        return "several"
    if offered[:1] == [(code, version)]:
        return "first"
    return "listed" if (code, version) in offered else "missed"


def tally(rows: list[dict], resolved: list[dict]) -> dict:
    counts: dict[str, Counter] = {}
    for row, got in zip(rows, resolved, strict=True):
        result = outcome(row, got)
        for kind in (row["kind"], "all"):
            counts.setdefault(kind, Counter())[result] += 1
        counts.setdefault("all", Counter())["status " + got["status"]] += 1
    return counts


def examples(rows: list[dict], resolved: list[dict], result: str, limit: int = 10) -> list[tuple]:
    return [
        (
            row["kind"],
            row["name"],
            row["parent"],
            row["grandparent"],
            row["code"],
            row["date"],
            row["expected"],
            got["status"],
            got["unit_code"],
            got["reason"][:120],
        )
        for row, got in zip(rows, resolved, strict=True)
        if outcome(row, got) == result
    ][:limit]


@pytest.fixture(scope="module")
def forms_resolved(tmp_path_factory):
    rows = generated_forms()
    return rows, run_resolve(rows, tmp_path_factory.mktemp("forms"))


def test_the_generated_list_covers_every_form():
    kinds = Counter(row["kind"] for row in generated_forms())
    assert set(kinds) == {
        "code: two digits",
        "code: zeros lost",
        "code: in full",
        "code: district",
        "old province as parent",
        "old district as parent",
        "province variant",
        "abbreviations",
        "ward number",
        "hamlet",
        "English",
    }
    assert sum(kinds.values()) >= 1500


def test_todays_forms_resolve_right_and_never_wrongly(forms_resolved):
    rows, resolved = forms_resolved
    counts = tally(rows, resolved)["all"]
    assert examples(rows, resolved, "wrong") == []
    total = len(rows)
    assert (counts["right"] + counts["first"] + counts["several"]) / total >= 0.99, (
        counts,
        examples(rows, resolved, "missed"),
    )


# Each failure of issue #27, reproduced on main before this change, with the unit it means.
REPRODUCTIONS = {
    "two-digit code, also a commune with its zeros lost": (",,,82,2023-05-31", "ambiguous", "82", "2024", ""),
    "two-digit code, a province": (",,,15,2026-03-15", "matched", "15", "2025", ""),
    "2025 commune under its old province (Bạc Liêu)": (
        "Xã Phước Long,Tỉnh Bạc Liêu,,,2026-12-11",
        "matched",
        "31867",
        "2025",
        "",
    ),
    "2025 commune under its old province (Trà Vinh)": (
        "Xã Càng Long,Tỉnh Trà Vinh,,,2026-04-17",
        "matched",
        "29266",
        "2025",
        "",
    ),
    "2025 commune under its old province (Quảng Nam)": (
        "Xã Thượng Đức,Tỉnh Quảng Nam,,,2025-12-25",
        "matched",
        "20506",
        "2025",
        "",
    ),
    "ward and city abbreviated": ("P.14,Quận 3,TP.HCM,,", "matched", "27127", "2024", ""),
    "city abbreviated another way": ("Phường 14,Q3,Tp. Hồ Chí Minh,,2024-05-01", "matched", "27127", "2024", ""),
    "Arabic number for a Roman one": (
        "Phường 04,Thành phố Vị Thanh,Tỉnh Hậu Giang,,2024-05-01",
        "matched",
        "31324",
        "2024",
        "",
    ),
    "Roman number for an Arabic one": ("Phường IV,Quận 3,TP HCM,,2024-05-01", "matched", "27148", "2024", ""),
    "former province name": ("Tỉnh Thừa Thiên Huế,,,,2026-01-01", "matched", "46", "2025", ""),
    "hamlet under its commune": (
        "Thôn Lập Thạch,Xã Mường Hoa,Tỉnh Phú Thọ,,2026-01-01",
        "matched",
        "05134",
        "2025",
        "Thôn Lập Thạch",
    ),
    "English": ('"Van Ban commune, Phu Tho province",,,,2026-01-01', "matched", "08377", "2025", ""),
}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    from ingest.units.cli import resolve_csv

    folder = tmp_path_factory.mktemp("reproductions")
    source, target = folder / "in.csv", folder / "out.csv"
    lines = [line for line, *_ in REPRODUCTIONS.values()]
    source.write_text("\n".join(["name,parent,grandparent,code,date", *lines]) + "\n", encoding="utf-8")
    resolve_csv(source, target)
    with open(target, encoding="utf-8-sig", newline="") as f:
        return dict(zip(REPRODUCTIONS, csv.DictReader(f), strict=True))


@pytest.mark.parametrize("case", list(REPRODUCTIONS))
def test_the_reproduced_forms_resolve(reproduced, case):
    _, status, code, version, hamlet = REPRODUCTIONS[case]
    got = reproduced[case]
    assert got["status"] == status, got["reason"]
    if status == "matched":
        assert (got["unit_code"], got["list_version"], got["hamlet"]) == (code, version, hamlet)
    else:  # never a silent pick: the code's own level first, the commune it may also be after it
        assert got["unit_code"] == "" and got["candidates"].startswith(f"{code} Tỉnh Tiền Giang ({version})")
        assert "00082 Phường Trần Hưng Đạo" in got["candidates"]


def test_the_department_s_province_comes_first_among_candidates():
    from ntm_core.units.resolver import resolve

    got = resolve(None, code="82", date="2023-05-31", level=None, province="Hà Nội")
    assert got.status == "ambiguous"
    assert [c.key for c in got.candidates] == ["2024:commune:00082", "2024:province:82", "2024:district:082"]


def test_a_code_of_another_level_is_held_back_saying_what_it_is():
    from ntm_core.units.resolver import resolve

    got = resolve(None, code="15", date="2026-03-15", level="commune")
    assert got.status == "not_found" and [c.name for c in got.candidates] == ["Tỉnh Lào Cai"]
    assert "province" in got.reason


def test_a_hamlet_named_like_a_commune_is_never_guessed():
    from ntm_core.units.resolver import resolve

    # 'Bản Lầu' under 'Mường Khương' (no type word): a hamlet of Thị trấn Mường Khương, or Xã Bản Lầu
    # of Huyện Mường Khương.
    got = resolve("Bản Lầu", "Mường Khương", "Lào Cai", date="2023-05-31", level=None)
    assert got.status == "ambiguous"
    assert {c.name for c in got.candidates} == {"Thị trấn Mường Khương", "Xã Bản Lầu"}
    assert resolve("Bản Lầu", "Huyện Mường Khương", "Lào Cai", date="2023-05-31").unit.name == "Xã Bản Lầu"
    got = resolve("Thôn Lập Thạch", None, None, date="2026-03-15", province="Phú Thọ")
    assert got.status == "not_found" and "commune" in got.reason  # a hamlet without its commune


def test_ingest_rows_take_the_same_forms_and_keep_the_hamlet(monkeypatch):
    from ingest.units import rows

    levels = ("province", "district", "commune")
    hamlet = {"_row_number": 1, "unit_name": "Thôn Lập Thạch", "_group": "Xã Mường Hoa", "year": 2026}
    got, level = rows.resolve_row(hamlet, ("commune",), "Phú Thọ")
    assert (got.status, got.unit.key, level, got.hamlet) == (
        "matched",
        "2025:commune:05134",
        "commune",
        "Thôn Lập Thạch",
    )
    province_code = {"_row_number": 2, "unit_code": "15", "year": 2026}
    got, level = rows.resolve_row(province_code, levels, "Lào Cai")
    assert (got.status, got.unit.name, level) == ("matched", "Tỉnh Lào Cai", "province")
    assert rows.resolve_row({"_row_number": 3, "unit_code": "82", "year": 2023}, levels, None)[0].status == "ambiguous"
    old_parent = {"_row_number": 4, "unit_name": "Xã Phước Long", "district_name": "Huyện Phước Long", "year": 2026}
    assert rows.resolve_row(old_parent, ("commune",), "Cà Mau")[0].unit.key == "2025:commune:31867"
    monkeypatch.setattr(rows, "province_of", lambda department: "Tỉnh Phú Thọ")
    kept, issues = rows.resolve_records([dict(hamlet), {**hamlet, "_row_number": 5, "hamlet_name": "Xóm 1"}], "x")
    assert issues == [] and [r["hamlet_name"] for r in kept] == ["Thôn Lập Thạch", "Xóm 1"]


def test_name_variants_point_at_official_units():
    variants = ref.name_variants()
    assert variants and all(key in ref.units_by_key() for _, key in variants)
    assert {ref.units_by_key()[key].name for written, key in variants if written == "Thừa Thiên Huế"} == {
        "Thành phố Huế"
    }


def test_a_unit_outside_the_old_territory_named_is_offered_not_picked():
    from ntm_core.units.resolver import resolve

    lists = Lists()
    [old] = [u for u in lists.of[(ref.OLD, "province")] if u.name == "Tỉnh Bạc Liêu"]
    within = lists.territory[old.key]
    today = {lists.by_key[k].province_key for k in within}
    outside = [u for u in lists.of[(ref.NEW, "commune")] if u.province_key in today and u.key not in within]
    unit = next(u for u in outside if not lists.namesakes(u, within))
    got = resolve(unit.name, old.name, date=LATER)
    assert got.status == "not_found" and [c.key for c in got.candidates] == [unit.key]
