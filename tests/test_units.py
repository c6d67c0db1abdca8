"""Administrative units: the two official lists, the crosswalk, and the name resolver."""

import random
import re
import unicodedata

import pytest

from ntm_core.units import reference as ref
from ntm_core.units.resolver import resolve

PROVINCES = {  # province codes in each list (several merged in 2025; HCM has many numbered wards)
    ref.OLD: ["14", "87", "72", "19", "79", "01"],
    ref.NEW: ["14", "82", "80", "19", "79", "01"],
}
ABBREVIATIONS = {
    "Xã": "X.",
    "Phường": "P.",
    "Thị trấn": "TT.",
    "Huyện": "H.",
    "Quận": "Q.",
    "Thị xã": "TX.",
    "Thành phố": "TP.",
    "Tỉnh": "T.",
    "Đặc khu": "ĐK.",
}


def no_diacritics(text):
    out = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return out.replace("đ", "d").replace("Đ", "D")


def abbreviate(text):
    for full, short in ABBREVIATIONS.items():
        if text.startswith(full + " "):
            return short + " " + text[len(full) + 1 :]
    return text


def nfd(text):
    return unicodedata.normalize("NFD", text)


def old_tone_placement(text):
    """Hòa -> Hoà, Thủy -> Thuỷ: the tone mark on the second vowel, as older documents write it."""

    def move(match):
        first, tone, second = match.groups()
        return unicodedata.normalize("NFC", first + second + tone)

    decomposed = unicodedata.normalize("NFD", text)
    moved = re.sub(r"([oOuU])([\u0300\u0301\u0303\u0309\u0323])([aAeEyY])(?![\w])", move, decomposed)
    return unicodedata.normalize("NFC", moved)


def noise(text, rng):
    text = "".join(c.upper() if rng.random() < 0.3 else c.lower() for c in text)
    return "  " + text.replace(" ", "  ") + " "


PERTURBATIONS = {
    "official": lambda t, rng: t,
    "no_diacritics": lambda t, rng: no_diacritics(t),
    "abbreviated": lambda t, rng: abbreviate(t),
    "nfd": lambda t, rng: nfd(t),
    "old_tone_placement": lambda t, rng: old_tone_placement(t),
    "case_and_spacing": noise,
}


def test_both_lists_are_complete():
    units = ref.load_units()
    counts = {}
    for u in units:
        counts[(u.list_version, u.level)] = counts.get((u.list_version, u.level), 0) + 1
    assert counts == {
        ("2024", "province"): 63,
        ("2024", "district"): 696,
        ("2024", "commune"): 10035,
        ("2025", "province"): 34,
        ("2025", "commune"): 3321,
    }
    by_key = ref.units_by_key()
    # A code means nothing without its list.
    assert by_key["2024:commune:03664"].name == "Xã Chiềng Xôm"
    assert by_key["2025:commune:03664"].name == "Phường Chiềng An"
    assert by_key["2024:province:80"].name == "Tỉnh Long An"
    assert by_key["2025:province:80"].name == "Tỉnh Tây Ninh"
    assert all(u.name == unicodedata.normalize("NFC", u.name) for u in units)
    # The registry's shortcut to today's provinces gives the same units as the whole list.
    assert set(ref.provinces_of_2025()) == {u for u in units if u.key.startswith("2025:province:")}


def test_crosswalk_maps_every_old_commune_and_reports_its_checks():
    checks = ref.crosswalk_checks()
    assert checks["old_communes_without_successor"] == 0
    assert checks["new_communes_without_source"] == 0
    rows = ref.build_crosswalk()
    by_old = {}
    for r in rows:
        by_old.setdefault(r.old_key, []).append(r)
    [chieng_xom] = by_old["2024:commune:03664"]
    assert chieng_xom.new_key == "2025:commune:03664" and chieng_xom.relation in ("merged_whole", "unchanged")
    splits = [rs for rs in by_old.values() if rs[0].relation == "split_part"]
    assert 400 <= len(splits) <= 500  # about 440 old units were split among several new ones
    assert all(sum(r.is_main_successor for r in rs) == 1 for rs in splits)


@pytest.mark.parametrize("version", [ref.OLD, ref.NEW])
def test_perturbed_names_resolve_with_their_parents_and_never_wrongly(version):
    rng = random.Random(2025)
    by_key = ref.units_by_key()
    communes = [
        u
        for u in ref.load_units()
        if u.list_version == version and u.level == "commune" and by_key[u.province_key].code in PROVINCES[version]
    ]
    assert len(communes) > 500
    outcomes = {"correct": 0, "wrong": [], "ambiguous_with_answer": 0, "missed": []}
    for unit in communes:
        parent = by_key[unit.parent_key] if unit.parent_key != unit.province_key else None
        province = by_key[unit.province_key]
        for name, perturb in PERTURBATIONS.items():
            got = resolve(
                perturb(unit.name, rng),
                perturb(parent.name, rng) if parent else None,
                perturb(province.name, rng),
                list_version=version,
            )
            if got.status == "matched":
                if got.unit.key == unit.key:
                    outcomes["correct"] += 1
                else:
                    outcomes["wrong"].append((name, unit.name, got.unit.path))
            elif got.status == "ambiguous" and unit.key in [c.key for c in got.candidates]:
                outcomes["ambiguous_with_answer"] += 1
            else:
                outcomes["missed"].append((name, unit.name, got.status, got.reason))
    total = len(communes) * len(PERTURBATIONS)
    assert outcomes["wrong"] == []
    assert outcomes["missed"] == []
    assert outcomes["correct"] / total >= 0.995, outcomes["ambiguous_with_answer"]


@pytest.mark.parametrize(
    "written, parent, province, date, expected",
    [
        ("X. Chiềng Cọ", None, "Sơn La", "2023-12-31", "Xã Chiềng Cọ"),
        ("Chiềng Xôm - TP Sơn La", None, None, "2023-01-01", "Xã Chiềng Xôm"),
        ("TT. Mỹ Thọ", "H. Cao Lãnh", "Đồng Tháp", "2023-06-30", "Thị trấn Mỹ Thọ"),
        ("xa my tho", "huyen cao lanh", "dong thap", "2023-06-30", "Xã Mỹ Thọ"),
        ("Phường 1", "TP Cao Lãnh", "Đồng Tháp", "2024-01-01", "Phường 1"),
        ("Sa Phin", None, "Hà Giang", "2024-01-01", "Xã Sà Phìn"),
        ("Chiềng An", None, "Sơn La", "2025-08-01", "Phường Chiềng An"),
    ],
)
def test_written_forms(written, parent, province, date, expected):
    got = resolve(written, parent, province, date=date)
    assert got.status == "matched" and got.unit.name == expected


def test_ambiguous_names_are_rejected_with_candidates():
    got = resolve("Mỹ Thọ", "Huyện Cao Lãnh", "Đồng Tháp", date="2023-01-01")
    assert got.status == "ambiguous"
    assert {c.name for c in got.candidates} == {"Thị trấn Mỹ Thọ", "Xã Mỹ Thọ"}
    got = resolve("Phường 1", None, "Đồng Tháp", date="2023-01-01")
    assert got.status == "ambiguous" and len(got.candidates) == 2


def test_written_diacritics_must_agree():
    # "Hoà Thành" is not "Hòa Thạnh": a different tone is a different name, however close.
    got = resolve("Xã Hoà Thành", None, "Tây Ninh", date="2024-01-01")
    assert got.status == "not_found" and got.candidates[0].name == "Xã Hòa Thạnh"


def test_codes_are_read_in_their_list():
    assert resolve(None, code="3664", date="2023-01-01").unit.name == "Xã Chiềng Xôm"
    assert resolve(None, code="03664", date="2025-09-01").unit.name == "Phường Chiềng An"
    undated = resolve(None, code="03664")
    assert undated.status == "ambiguous" and len(undated.candidates) == 2
    conflict = resolve("Xã Hua La", code="03664", date="2023-01-01")
    assert conflict.status == "ambiguous" and "03664" in conflict.reason


def test_old_name_on_new_data_points_to_its_successor():
    got = resolve("Chiềng Xôm", None, "Sơn La", date="2025-09-01")
    assert got.status == "not_found"
    assert [c.name for c in got.candidates] == ["Phường Chiềng An"]


def test_units_resolve_command_writes_status_and_candidates(tmp_path):
    import csv

    from ntm.cli import main

    source = tmp_path / "in.csv"
    source.write_text(
        "name,parent,grandparent,code,date\n"
        "Chiềng Xôm - TP Sơn La,,,,2023-01-01\n"
        "Mỹ Thọ,Huyện Cao Lãnh,Đồng Tháp,,2023-01-01\n"
        "Xã Không Có,,Sơn La,,2023-01-01\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    assert main(["units", "resolve", str(source), "-o", str(target)]) == 1  # not everything matched
    rows = list(csv.DictReader(open(target, encoding="utf-8-sig")))
    assert [(r["status"], r["unit_code"], r["list_version"]) for r in rows] == [
        ("matched", "03664", "2024"),
        ("ambiguous", "", ""),
        ("not_found", "", ""),
    ]
    assert "30076" in rows[1]["candidates"] and "30100" in rows[1]["candidates"]
    assert rows[0]["name"] == "Chiềng Xôm - TP Sơn La"  # input columns kept as they were


def test_committed_seeds_match_the_package(tmp_path):
    from ntm.seeds import SEEDS_DIR, export_seeds

    for fresh in export_seeds(tmp_path):
        committed = SEEDS_DIR / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), f"run `ntm units export-seeds` ({fresh.name})"


def test_the_unit_index_is_read_back_from_its_cache_and_rebuilt_when_unreadable(tmp_path, monkeypatch):
    """A process reads the index its predecessor built (NTM_CACHE_DIR) instead of building it again;
    an unreadable cache is built over, and resolving gives the same units either way."""
    from ntm_core.units import resolver

    monkeypatch.setenv("NTM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    stale = tmp_path / "cache" / "unit-index-0000.pickle"  # built from other unit lists or code
    stale.write_bytes(b"old")
    resolver.index.cache_clear()
    try:
        built = resolver.index()
        [cached] = (tmp_path / "cache").glob("unit-index-*.pickle")
        assert cached != stale
        resolver.index.cache_clear()
        read = resolver.index()
        assert read is not built
        assert (read.units, read.by, read.children, read.successors) == (
            built.units,
            built.by,
            built.children,
            built.successors,
        )
        assert resolve("Xã Ba Sao", code="30085", date="2024-12-31").unit.code == "30085"
        cached.write_bytes(b"not a pickle")
        resolver.index.cache_clear()
        assert resolver.index().by == built.by
        assert resolve("Xã Ba Sao", code="30085", date="2024-12-31").unit.code == "30085"
    finally:
        resolver.index.cache_clear()
