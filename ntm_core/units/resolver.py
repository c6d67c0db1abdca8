"""Resolve a unit name as departments write it to one official unit, or reject it with candidates.

The rule that matters: it never picks one of several candidates. Matching goes from strict to
loose (same letters → spelling variants → older names the package lists as aliases), keeps only
units whose names agree with every diacritic that was written (missing ones match anything, tone
placement does not matter), and stops at the first step that finds anything: one unit is an
answer, several are a rejection listing them.

A code's width and the row's date say its level and list (a two-digit code is a province; one that
could also be a commune whose leading zeros a spreadsheet dropped is held back with both). A name's
type word, Vietnamese or English, says its level; a 2025 unit may be named under the province or
district it lay in before the merger (the 2025 communes that old territory became, from the
crosswalk); a hamlet written before its commune resolves to the commune and is kept as `hamlet`.

A department's province (`province=`, today's name from the department registry) is its territory
through time: on data from 1 July 2025 that province, on earlier data the old provinces that merged
into it (the 2025 crosswalk: Tiền Giang's communes for Đồng Tháp). A unit outside it is held back,
saying where it lies.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import pickle
import re
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ntm_core.settings import cache_dir
from ntm_core.units import reference as ref
from ntm_core.units.names import (
    compatible,
    hamlet_word,
    has_diacritics,
    interpretations,
    loose_key,
    number_key,
    plain_key,
    tidy,
    tone_loose_key,
)

TIERS = ("plain", "loose", "alias")
_KEYS = {"plain": plain_key, "loose": loose_key}
# Which written types fit which official types (a "TP" can be a province or a district city); the
# English "district" and "town" stand for several.
_TYPE_FITS = {
    "Tỉnh": {"Tỉnh", "Thành phố"},
    "Thành phố": {"Thành phố"},
    "district": {"Huyện", "Quận", "Thị xã", "Thành phố"},
    "town": {"Thị xã", "Thị trấn"},
}
LEVELS = ("province", "district", "commune")
CODE_WIDTH = {"province": 2, "district": 3, "commune": 5}
LEVEL_BY_WIDTH = {width: level for level, width in CODE_WIDTH.items()}
LEVELS_OF_TYPE = {
    "Tỉnh": ("province",),
    "Thành phố": ("province", "district"),
    "Huyện": ("district",),
    "Quận": ("district",),
    "Thị xã": ("district",),
    "district": ("district",),
    "town": ("district", "commune"),
    "Xã": ("commune",),
    "Phường": ("commune",),
    "Thị trấn": ("commune",),
    "Đặc khu": ("commune",),
}


@dataclass
class Candidate:
    key: str
    code: str
    list_version: str
    name: str
    path: str  # "Xã Chiềng Xôm, Thành phố Sơn La, Tỉnh Sơn La"
    score: float = 1.0

    @property
    def level(self) -> str:
        return self.key.split(":")[1]


@dataclass
class Resolution:
    status: str  # matched | ambiguous | not_found
    unit: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    reason: str | None = None
    outside: str | None = None  # the department's province, when the unit lies outside it
    hamlet: str | None = None  # the hamlet written before its commune ("Thôn Lập Thạch"), as written

    @property
    def level(self) -> str | None:
        return self.unit.level if self.unit else None

    @property
    def unit_code(self) -> str | None:
        return self.unit.code if self.unit else None

    @property
    def list_version(self) -> str | None:
        return self.unit.list_version if self.unit else None


class _Index:
    """Per list and level: matching key -> unit keys, for each tier; and children of each unit."""

    def __init__(self) -> None:
        self.units = ref.units_by_key()
        self.by: dict[tuple[str, str, str], dict[str, list[str]]] = {}
        self.children: dict[str, list[str]] = {}
        self.words: dict[tuple[str, str, str], list[str]] = {}
        for unit in self.units.values():
            for word in set(plain_key(unit.short_name).split()):
                self.words.setdefault((unit.list_version, unit.level, word), []).append(unit.key)
            for tier, key_of in _KEYS.items():
                self._add(tier, unit, key_of(number_key(unit.short_name)))
            if unit.parent_key:
                self.children.setdefault(unit.parent_key, []).append(unit.key)
        for alias_key, unit_key_ in _aliases():
            unit = self.units.get(unit_key_)
            if unit:
                self._add("alias", unit, alias_key)
        self.successors: dict[str, set[str]] = {}
        self.merged_into: dict[str, set[str]] = {}  # province of 2025 -> the provinces of 2024 in it
        for row in ref.build_crosswalk():
            self.successors.setdefault(row.old_key, set()).add(row.new_key)
            if row.old_key in self.units and row.new_key in self.units:
                new, old = self.units[row.new_key].province_key, self.units[row.old_key].province_key
                self.merged_into.setdefault(new, set()).add(old)

    def _add(self, tier: str, unit: ref.Unit, key: str) -> None:
        bucket = self.by.setdefault((tier, unit.list_version, unit.level), {})
        if unit.key not in bucket.setdefault(key, []):
            bucket[key].append(unit.key)

    def lookup(self, tier: str, version: str, level: str, text: str) -> list[str]:
        key = text if tier == "alias" else _KEYS[tier](number_key(text))
        return self.by.get((tier, version, level), {}).get(key, [])

    def path(self, key: str) -> str:
        names = []
        while key:
            unit = self.units[key]
            names.append(unit.name)
            key = unit.parent_key
        return ", ".join(names)

    def candidate(self, key: str, score: float = 1.0) -> Candidate:
        u = self.units[key]
        return Candidate(u.key, u.code, u.list_version, u.name, self.path(key), round(score, 3))

    def descendants(self, key: str) -> set[str]:
        out, stack = set(), [key]
        while stack:
            for child in self.children.get(stack.pop(), []):
                out.add(child)
                stack.append(child)
        return out


def _aliases() -> list[tuple[str, str]]:
    """Other names the package keeps: older names of 2024 communes and districts (merged before
    2024), a province's name run together and its short form (`hanoi`, `hn`, `hcm`); and the written
    forms of name_variants.csv."""
    con = sqlite3.connect(ref._package_dir() / "dataset.db")
    out = []
    queries = [
        (ref.OLD, "commune", "SELECT wardCode, wardAlias FROM admin_units_legacy WHERE wardAlias IS NOT NULL"),
        (
            ref.OLD,
            "district",
            "SELECT districtCode, districtAlias FROM admin_units_legacy WHERE districtAlias IS NOT NULL",
        ),
        (ref.OLD, "province", "SELECT provinceCode, provinceKeywords FROM admin_units_legacy"),
        (ref.NEW, "province", "SELECT provinceCode, provinceKeywords FROM admin_units"),
    ]
    for version, level, query in queries:
        for code, aliases in set(con.execute(query)):
            out += [(alias, ref.unit_key(version, level, code)) for alias in json.loads(aliases)]
    out += [(_alias_key(written), key) for written, key in ref.name_variants()]
    return out


def _alias_key(text: str) -> str:
    return plain_key(tidy(text)).replace(" ", "")


@lru_cache(maxsize=1)
def index() -> _Index:
    """The index, read from the cache when the unit lists and this code are those it was built from
    (building it takes about a second, at the start of every process that resolves a unit)."""
    path = cache_dir() / f"unit-index-{_index_fingerprint()}.pickle"
    try:
        with path.open("rb") as cached:
            return pickle.load(cached)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        pass  # not built yet, or unreadable: built again
    built = _Index()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.parent.glob("unit-index-*.pickle"):
            if stale != path:  # built from other lists or code
                stale.unlink(missing_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
            pickle.dump(built, part, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part.name, path)  # whole or not at all, whichever process writes it first
    except OSError:
        pass  # a read-only home: the index is built in each process, as before
    return built


def _index_fingerprint() -> str:
    """What the index is built from: the package's unit lists, the name variants, this package's code
    and the Python that pickles it."""
    digest = hashlib.sha256(sys.version.encode())
    db = ref._package_dir() / "dataset.db"
    digest.update(f"{db}:{db.stat().st_size}:{db.stat().st_mtime_ns}".encode())
    here = Path(__file__).parent
    for source in sorted([*here.glob("*.py"), *here.glob("*.csv")]):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:24]


def list_versions(date: dt.date | str | None, list_version: str | None = None) -> list[str]:
    """The official lists a name is looked up in: the one `list_version` names, else the one in
    force on `date`, else both. Rows of different days that fall in the same list resolve alike."""
    if list_version:
        return [list_version]
    if isinstance(date, str) and date:
        date = dt.date.fromisoformat(date[:10])
    return [ref.list_version_for(date)] if date else [ref.OLD, ref.NEW]


def _match(text: str, version: str, level: str, scope: set[str] | None) -> list[str]:
    """Units of `level` in `version` named `text`, at the strictest tier that finds any.

    A writer who used diacritics anywhere in the name is taken at their word ('Phường Sa Pa' is
    not 'Phường Sa Pả'); without any, a word matches whatever diacritics the official name has."""
    idx = index()
    accented = has_diacritics(text)
    for tier in TIERS:
        found: list[tuple[str, str]] = []
        for unit_type, rest in interpretations(text):
            written = [rest] if tier != "alias" else list(dict.fromkeys([_alias_key(text), _alias_key(rest)]))
            for key in (k for w in written for k in idx.lookup(tier, version, level, w)):
                unit = idx.units[key]
                if scope is not None and key not in scope:
                    continue
                if unit_type and unit.unit_type not in _TYPE_FITS.get(unit_type, {unit_type}):
                    continue
                if all(key != k for k, _ in found):
                    found.append((key, rest))
        if tier == "alias":
            return [k for k, _ in found]
        exact = [
            k
            for k, rest in found
            if tone_loose_key(number_key(rest)) == tone_loose_key(number_key(idx.units[k].short_name))
        ]
        if accented and exact:
            return exact
        fitting = [k for k, rest in found if compatible(number_key(rest), number_key(idx.units[k].short_name))]
        if fitting:
            return fitting
    return []


@lru_cache(maxsize=256)
def _provinces(version: str, name: str) -> tuple[str, ...]:
    """The provinces of `version` a province name stands for (an old name on new data: its successors)."""
    idx = index()
    provinces = _match(name, version, "province", None)
    if not provinces and version == ref.NEW:
        provinces = sorted(
            {
                idx.units[n].province_key
                for o in _match(name, ref.OLD, "province", None)
                for c in idx.descendants(o)
                for n in idx.successors.get(c, ())
            }
        )
    return tuple(provinces)


@lru_cache(maxsize=1024)
def _old_territory(name: str, level: str, within: frozenset[str] | None) -> frozenset[str]:
    """The 2025 communes that the pre-2025 provinces or districts named `name` became (the crosswalk)."""
    idx = index()
    out: set[str] = set()
    for old in _match(name, ref.OLD, level, within):
        for unit in idx.descendants(old) | {old}:
            out |= idx.successors.get(unit, set())
    return frozenset(out)


@lru_cache(maxsize=256)
def _old_area(name: str) -> frozenset[str] | None:
    """The pre-2025 units within a province named on new data: an old province's, and for a province
    of today's map those of the old provinces that merged into it (Tiền Giang's in Đồng Tháp)."""
    idx = index()
    olds = set(_match(name, ref.OLD, "province", None))
    for new in _match(name, ref.NEW, "province", None):
        olds |= idx.merged_into.get(new, set())
    return frozenset(k for p in olds for k in idx.descendants(p)) or None


@lru_cache(maxsize=256)
def _territory(version: str, province: str) -> tuple[str, ...]:
    """The provinces of `version` that a department's province is through time: on the list from
    1 July 2025 the province itself; on the list before, the old provinces that merged into it (the
    2025 crosswalk: Tiền Giang and Đồng Tháp for Đồng Tháp, Hà Giang and Tuyên Quang for Tuyên Quang).
    A province written with a pre-2025 name is that old province, and on new data its successors."""
    idx = index()
    provinces = set(_provinces(version, province))
    if version == ref.OLD:
        for new in _match(province, ref.NEW, "province", None):
            provinces |= idx.merged_into.get(new, set())
    return tuple(sorted(provinces))


@lru_cache(maxsize=20000)
def _scope(
    version: str, parent: str | None, grandparent: str | None, territory: bool = False
) -> tuple[frozenset[str] | None, str | None]:
    """The units a name may resolve to, given its parent names; None means anywhere in the list.

    On the list from 1 July 2025, a province or district of the list before (`Tỉnh Bạc Liêu`,
    `Huyện Càng Long`) stands for the 2025 communes its communes became: its old territory. With
    `territory`, the grandparent is the department's province, read through time (`_territory`)."""
    idx = index()
    if not parent and not grandparent:
        return None, None
    provinces: list[str] | None = None
    area: frozenset[str] | None = None
    if grandparent:
        provinces = (
            list(_territory(version, grandparent)) if territory else _match(grandparent, version, "province", None)
        )
        area = frozenset(k for p in provinces for k in idx.descendants(p))
        if not provinces and version == ref.NEW and not territory:
            area = _old_territory(grandparent, "province", None)
        if not area:
            return frozenset(), f"province '{grandparent}' not found"
    if not parent:
        return area, None
    scopes: set[str] = set()
    if version == ref.OLD:
        for district in _match(parent, version, "district", area):
            scopes |= idx.descendants(district)
    for province in _match(parent, version, "province", None):
        if provinces is None or province in provinces:
            scopes |= idx.descendants(province)
    if version == ref.NEW and not scopes:
        # A pre-2025 district or province named on new data: the new communes its communes became.
        scopes = set(_old_territory(parent, "district", _old_area(grandparent) if grandparent else None))
        scopes |= _old_territory(parent, "province", None)
    if not scopes:
        return frozenset(), f"parent unit '{parent}' not found"
    return frozenset(scopes), None


def _split_suffix(name: str) -> tuple[str, list[str]]:
    """'Chiềng Xôm - TP Sơn La' -> ('Chiềng Xôm', ['TP Sơn La']); a trailing 'Việt Nam' goes. Where
    commas part the text, a dash stays inside a name ('Thôn A, Xã Chân Mây - Lăng Cô')."""
    text = tidy(name)
    parts_re = r"\s*,\s*|\s*\(\s*|\s*\)\s*" if "," in text else r"\s+[-–]\s+|\s*\(\s*|\s*\)\s*"
    parts = [p for p in re.split(parts_re, text) if p.strip()]
    parts = [p for p in parts if plain_key(p) not in ("viet nam", "vietnam")]
    return (parts[0], parts[1:]) if parts else (name, [])


def _nearest(
    name: str, version_list: list[str], scope_by_version: dict[str, frozenset[str] | None], level: str, limit: int = 5
) -> list[Candidate]:
    """Closest official names (sharing a word with the written one), for the report."""
    idx = index()
    wanted = plain_key(interpretations(name)[-1][1])
    scored = []
    for version in version_list:
        scope = scope_by_version.get(version)
        pool = set()
        for word in wanted.split():
            pool.update(idx.words.get((version, level, word), ()))
        for key in pool:
            if scope and key not in scope:
                continue
            score = difflib.SequenceMatcher(None, wanted, plain_key(idx.units[key].short_name)).ratio()
            if score >= 0.6:
                scored.append((score, key))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [idx.candidate(k, s) for s, k in scored[:limit]]


def resolve(
    name: str | None,
    parent: str | None = None,
    grandparent: str | None = None,
    code: str | None = None,
    date: dt.date | str | None = None,
    list_version: str | None = None,
    level: str | tuple[str, ...] | None = "commune",
    province: str | None = None,
) -> Resolution:
    """One unit, or a rejection with ranked candidates.

    `parent` and `grandparent` are the names of the enclosing units (district and province
    before July 2025, province after; a pre-2025 one on later data stands for its old territory);
    `date` or `list_version` says which official list the name or code belongs to (both lists are
    searched when neither is given). `level` is the level the unit must be at, a tuple of the
    levels it may be at, or None for any: among them the code's width and the name's type word say
    which, and a unit that fits at two levels is ambiguous. With `province`, the unit must be that
    province or lie within it, whether it is named or given by its code, and candidates in it come
    first. A hamlet written before its commune ('Thôn Lập Thạch, Xã Mường Hoa') resolves to the
    commune, with the hamlet in `hamlet`."""
    versions = list_versions(date, list_version)
    accepted = LEVELS if level is None else (level,) if isinstance(level, str) else tuple(level)
    name = tidy(name) if name else ""
    hamlet, above = _hamlet_of(name, parent, grandparent)
    if code:
        written = (above[0] if above else "") if hamlet else name
        got = _resolve_code(written, str(code).strip(), versions, accepted)
        got.hamlet = hamlet if got.status == "matched" and got.level == "commune" else None
    elif not name:
        return Resolution("not_found", reason="no name and no code")
    else:
        answers = [_resolve_at(name, parent, grandparent, versions, lvl, province) for lvl in _levels(name, accepted)]
        got = _one_level(answers)
        if hamlet and "commune" in accepted:
            got = _or_hamlet(got, name, hamlet, above, versions, province)
    return _province_first(_within(got, province), province)


def _levels(name: str, accepted: tuple[str, ...]) -> list[str]:
    """The accepted levels the name's type word allows ('Tỉnh': province; 'Thành phố': province or
    district); a name without one may be at any of them."""
    if len(accepted) == 1:
        return list(accepted)
    unit_type = interpretations(_split_suffix(name)[0])[0][0]
    return [lvl for lvl in accepted if lvl in LEVELS_OF_TYPE.get(unit_type, accepted)] or list(accepted)


def _one_level(answers: list[Resolution]) -> Resolution:
    """One answer from the levels tried: the one that matched; several that matched are ambiguous."""
    if len(answers) == 1:
        return answers[0]
    matched = [got for got in answers if got.status == "matched"]
    if len(matched) == 1 and not any(got.status == "ambiguous" for got in answers):
        return matched[0]
    if len(matched) > 1:
        return Resolution(
            "ambiguous", candidates=[got.unit for got in matched], reason="the name fits units of several levels"
        )
    return max(answers, key=lambda got: (got.status == "ambiguous", len(got.candidates)))


def _resolve_at(
    name: str, parent: str | None, grandparent: str | None, versions: list[str], level: str, province: str | None
) -> Resolution:
    """The name at one level: as written, then with the rest of its text as its parents."""
    territory = bool(province and level != "province" and not grandparent)
    if territory:  # within the department's province through time: the old provinces merged into it too
        grandparent = province
    whole = _within(_resolve_name(name, parent, grandparent, versions, level, territory), province)
    if whole.status == "not_found" and province and level != "province":
        elsewhere = _resolve_name(name, parent, None, versions, level)
        if elsewhere.status == "matched":  # say where the unit is, rather than that it is nowhere
            return _within(elsewhere, province)
    base, hints = _split_suffix(name)
    if whole.status != "not_found" or not hints:
        return whole
    # 'Chiềng Xôm - TP Sơn La': the rest of the text names the parents.
    split = _resolve_name(
        base, parent or hints[0], grandparent or (hints[1] if len(hints) > 1 else None), versions, level, territory
    )
    return split if split.status != "not_found" else whole


def _hamlet_of(name: str, parent: str | None, grandparent: str | None) -> tuple[str | None, list[str]]:
    """A hamlet written before its commune: ('Thôn Lập Thạch', ['Xã Mường Hoa', 'Tỉnh Phú Thọ']), from
    the name ('Thôn Lập Thạch, Xã Mường Hoa') and the parents; (None, []) for any other name."""
    # With its commune given apart, a name without commas is the hamlet's whole ('Khu A - B').
    base, hints = _split_suffix(name) if name and ("," in name or not parent) else (name, [])
    if not base or not hamlet_word(base):
        return None, []
    return base, [*hints, *(p for p in (parent, grandparent) if p)][:3]


def _or_hamlet(
    plain: Resolution, name: str, hamlet: str, above: list[str], versions: list[str], province: str | None
) -> Resolution:
    """The name read as a hamlet of the commune after it, against the name read as a unit ('Bản Lầu'
    is also a commune): the reading that matched; both matching is ambiguous."""
    if not above:
        reading = Resolution("not_found", reason=f"'{hamlet}' is a hamlet: write its commune as the parent unit")
    else:
        commune, *upper = above
        reading = _resolve_at(commune, *(upper + [None, None])[:2], versions, "commune", province)
    if reading.status == "matched":
        reading.hamlet = hamlet
        if plain.status == "matched" and plain.unit.key != reading.unit.key:
            return Resolution(
                "ambiguous",
                candidates=[reading.unit, plain.unit],
                reason=f"'{name}' may be a hamlet of {reading.unit.path} or {plain.unit.path}",
            )
        return reading
    if plain.status == "matched" or (plain.status == "ambiguous" and reading.status == "not_found"):
        return plain
    if above:
        reading.reason = f"'{hamlet}' is a hamlet of '{above[0]}': {reading.reason}"
    return reading


def _in_province(key: str, province: str) -> bool:
    """Whether the unit lies in the department's province through time (`_territory`)."""
    unit = index().units[key]
    return unit.province_key in _territory(unit.list_version, tidy(province))


def _within(got: Resolution, province: str | None) -> Resolution:
    """A unit outside the department's province is not an answer: the report says where it is (and,
    for a unit of the list before 1 July 2025, which old provinces the department's province covers)."""
    if not province or got.status != "matched" or _in_province(got.unit.key, province):
        return got
    idx = index()
    olds = _territory(got.unit.list_version, tidy(province)) if got.unit.list_version == ref.OLD else ()
    covers = f" (before 1 July 2025: {', '.join(idx.units[k].name for k in olds)})" if len(olds) > 1 else ""
    return Resolution(
        "not_found",
        candidates=[got.unit],
        outside=province,
        reason=f"{got.unit.path} is outside {province}, the province of the department{covers}",
    )


def _province_first(got: Resolution, province: str | None) -> Resolution:
    """Candidates in the department's province before the others, each group in its order."""
    if province and len(got.candidates) > 1:
        got.candidates.sort(key=lambda c: not _in_province(c.key, province))
    return got


def _scopes(versions: list[str], parent: str | None, grandparent: str | None, territory: bool = False):
    scopes: dict[str, frozenset[str] | None] = {}
    problems = []
    for version in versions:
        scope, problem = _scope(
            version, tidy(parent) if parent else None, tidy(grandparent) if grandparent else None, territory
        )
        scopes[version] = scope
        if problem:
            problems.append(problem)
    return scopes, problems


def _code_readings(code: str, versions: list[str], accepted: tuple[str, ...]) -> list[str]:
    """The units a written code may be, the one its width says first: 2 digits a province, 3 a
    district, 5 a commune. A number may also have lost its leading zeros in a spreadsheet ('82' is
    also commune 00082, '3664' commune 03664) at the wider levels accepted; a code written with its
    leading zero ('08', '082') kept them."""
    idx = index()
    if not code.isdigit():
        return [k for v in versions for lvl in accepted if (k := ref.unit_key(v, lvl, code)) in idx.units]
    exact = LEVEL_BY_WIDTH.get(len(code))
    lost = not (exact and code.startswith("0"))
    levels = [exact] if exact else []
    levels += [lvl for lvl in LEVELS if lvl in accepted and lvl != exact and CODE_WIDTH[lvl] > len(code) and lost]
    return [
        k for lvl in levels for v in versions if (k := ref.unit_key(v, lvl, code.zfill(CODE_WIDTH[lvl]))) in idx.units
    ]


def _described(keys: list[str]) -> str:
    units = index().units
    return " or ".join(
        f"{units[k].name} ({units[k].level} {units[k].code}, list {units[k].list_version})" for k in keys
    )


def _resolve_code(name: str, code: str, versions: list[str], accepted: tuple[str, ...]) -> Resolution:
    """A code is read in its list, at the level its width says; a name given with it must fit the
    unit the code names. A code that reads as units of two levels or lists is held back."""
    idx = index()
    readings = _code_readings(code, versions, accepted)
    expected = " or ".join(accepted)
    if name:
        fitting = [k for k in readings if k in _match(name, idx.units[k].list_version, idx.units[k].level, None)]
        if len(fitting) == 1 and idx.units[fitting[0]].level in accepted:
            return Resolution("matched", idx.candidate(fitting[0]))
        by_name = [k for v in versions for lvl in accepted for k in _match(name, v, lvl, None)]
        if len(fitting) == 1:
            reason = f"code {code} is {_described(fitting)}; a {expected} is expected here"
        elif readings:
            reason = f"code {code} is {_described(readings)}, not '{name}'"
        else:
            reason = f"code {code} is not an official {expected} code"
        return Resolution(
            "ambiguous" if readings or by_name else "not_found",
            candidates=[idx.candidate(k) for k in dict.fromkeys(fitting + readings + by_name)],
            reason=reason,
        )
    taken = [k for k in readings if idx.units[k].level in accepted]
    if len(readings) == 1 and taken:
        return Resolution("matched", idx.candidate(taken[0]))
    candidates = [idx.candidate(k) for k in readings]
    if len({idx.units[k].level for k in readings}) > 1:
        reason = f"code {code} may be {_described(readings)} (leading zeros lost); write the code in full or the name"
        return Resolution("ambiguous", candidates=candidates, reason=reason)
    if len(readings) > 1:
        reason = f"code {code} exists in several lists; give the date or list version"
        return Resolution("ambiguous", candidates=candidates, reason=reason)
    if readings:
        reason = f"code {code} is {_described(readings)}; a {expected} is expected here"
        return Resolution("not_found", candidates=candidates, reason=reason)
    return Resolution("not_found", reason=f"code {code} is not an official {expected} code")


def _resolve_name(
    name: str, parent: str | None, grandparent: str | None, versions: list[str], level: str, territory: bool = False
) -> Resolution:
    """The name within its parents; with `territory`, the grandparent is the department's province."""
    idx = index()
    scopes, problems = _scopes(versions, parent, grandparent, territory)
    found = [k for v in versions if scopes[v] != frozenset() for k in _match(name, v, level, scopes[v])]
    if len(found) == 1:
        return Resolution("matched", idx.candidate(found[0]))
    if found:
        return Resolution(
            "ambiguous",
            candidates=[idx.candidate(k) for k in found],
            reason=f"'{name}' fits {len(found)} units; give the parent unit or the code",
        )
    if versions == [ref.NEW] and level == "commune":
        # A pre-2025 name on new data: point at what the old unit became, but do not pick.
        old = (
            resolve(name, parent, list_version=ref.OLD, level=level, province=grandparent)
            if territory
            else resolve(name, parent, grandparent, list_version=ref.OLD, level=level)
        )
        if old.status == "matched":
            successors = sorted(idx.successors.get(old.unit.key, ()))
            return Resolution(
                "not_found",
                candidates=[idx.candidate(k) for k in successors],
                reason=f"'{name}' is a unit of the list before 1 July 2025 ({old.unit.path}); "
                f"it became {', '.join(idx.units[k].name for k in successors)}",
            )
    around = _around(name, scopes.get(ref.NEW), level) if ref.NEW in versions else []
    if around:  # named under an old territory it does not lie in: offered, never picked
        return Resolution(
            "not_found",
            candidates=[idx.candidate(k) for k in around],
            reason=f"'{name}' lies in {', '.join(idx.path(k) for k in around)}, not within '{parent or grandparent}'",
        )
    return Resolution(
        "not_found",
        candidates=_nearest(name, versions, scopes, level),
        reason="; ".join(problems) or f"no official {level} is named '{name}' here",
    )


def _around(name: str, scope: frozenset[str] | None, level: str) -> list[str]:
    """Units of the name in the 2025 provinces a part of which the scope is (an old territory)."""
    idx = index()
    if not scope:
        return []
    provinces = {idx.units[k].province_key for k in scope}
    wider = frozenset(k for p in provinces for k in idx.descendants(p))
    return _match(name, ref.NEW, level, wider) if wider != scope else []
