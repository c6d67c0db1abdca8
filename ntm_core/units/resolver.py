"""Resolve a unit name as departments write it to one official unit, or reject it with candidates.

The rule that matters: it never picks one of several candidates. Matching goes from strict to
loose (same letters → spelling variants → older names the package lists as aliases), keeps only
units whose names agree with every diacritic that was written (missing ones match anything, tone
placement does not matter), and stops at the first step that finds anything: one unit is an
answer, several are a rejection listing them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache

from ntm_core.units import reference as ref
from ntm_core.units.names import (
    compatible,
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
# Which written types fit which official types (a "TP" can be a province or a district city).
_TYPE_FITS = {"Tỉnh": {"Tỉnh", "Thành phố"}, "Thành phố": {"Thành phố"}}


@dataclass
class Candidate:
    key: str
    code: str
    list_version: str
    name: str
    path: str  # "Xã Chiềng Xôm, Thành phố Sơn La, Tỉnh Sơn La"
    score: float = 1.0


@dataclass
class Resolution:
    status: str  # matched | ambiguous | not_found
    unit: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    reason: str | None = None
    outside: str | None = None  # the department's province, when the unit lies outside it

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
        for row in ref.build_crosswalk():
            self.successors.setdefault(row.old_key, set()).add(row.new_key)

    def _add(self, tier: str, unit: ref.Unit, key: str) -> None:
        bucket = self.by.setdefault((tier, unit.list_version, unit.level), {})
        if unit.key not in bucket.setdefault(key, []):
            bucket[key].append(unit.key)

    def lookup(self, tier: str, version: str, level: str, text: str) -> list[str]:
        key = text.replace(" ", "") if tier == "alias" else _KEYS[tier](number_key(text))
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
    """Older names of 2024 communes (merged before 2024) that the package keeps as aliases."""
    con = sqlite3.connect(ref._package_dir() / "dataset.db")
    out = []
    for code, aliases in con.execute("SELECT wardCode, wardAlias FROM admin_units_legacy WHERE wardAlias IS NOT NULL"):
        for alias in json.loads(aliases):
            out.append((alias, ref.unit_key(ref.OLD, "commune", code)))
    return out


@lru_cache(maxsize=1)
def index() -> _Index:
    return _Index()


def _versions(date: dt.date | str | None, list_version: str | None) -> list[str]:
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
            for key in idx.lookup(tier, version, level, rest if tier != "alias" else plain_key(tidy(text))):
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


@lru_cache(maxsize=20000)
def _scope(version: str, parent: str | None, grandparent: str | None) -> tuple[frozenset[str] | None, str | None]:
    """The communes a name may resolve to, given its parent names; None means anywhere in the list."""
    idx = index()
    if not parent and not grandparent:
        return None, None
    provinces: list[str] | None = None
    if grandparent:
        provinces = list(_provinces(version, grandparent))
        if not provinces:
            return frozenset(), f"province '{grandparent}' not found"
    if not parent:
        return frozenset(k for p in provinces for k in idx.descendants(p)), None
    within = frozenset(k for p in provinces for k in idx.descendants(p)) if provinces else None
    scopes: set[str] = set()
    if version == ref.OLD:
        for district in _match(parent, version, "district", within):
            scopes |= idx.descendants(district)
    for province in _match(parent, version, "province", None):
        if provinces is None or province in provinces:
            scopes |= idx.descendants(province)
    if version == ref.NEW and not scopes:
        # A pre-2025 district named on new data: the new communes its communes became.
        old_within = None
        if grandparent:
            old_within = frozenset(
                k for p in _match(grandparent, ref.OLD, "province", None) for k in idx.descendants(p)
            )
        for district in _match(parent, ref.OLD, "district", old_within):
            for old in idx.descendants(district) | {district}:
                scopes |= idx.successors.get(old, set())
    if not scopes:
        return frozenset(), f"parent unit '{parent}' not found"
    return frozenset(scopes), None


def _split_suffix(name: str) -> tuple[str, list[str]]:
    """'Chiềng Xôm - TP Sơn La' -> ('Chiềng Xôm', ['TP Sơn La'])."""
    parts = [p for p in re.split(r"\s+[-–,]\s+|\s*,\s*|\s*\(\s*|\s*\)\s*", tidy(name)) if p.strip()]
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
    level: str = "commune",
    province: str | None = None,
) -> Resolution:
    """One unit, or a rejection with ranked candidates.

    `parent` and `grandparent` are the names of the enclosing units (district and province
    before July 2025, province after); `date` or `list_version` says which official list the
    name or code belongs to (both lists are searched when neither is given). With `province`,
    the unit must be that province or lie within it, whether it is named or given by its code."""
    versions = _versions(date, list_version)
    name = tidy(name) if name else ""
    if code:
        return _within(_resolve_code(name, str(code).strip(), versions, level), province)
    if not name:
        return Resolution("not_found", reason="no name and no code")
    if province and level != "province":
        grandparent = grandparent or province
    whole = _within(_resolve_name(name, parent, grandparent, versions, level), province)
    if whole.status == "not_found" and province and level != "province":
        elsewhere = _resolve_name(name, parent, None, versions, level)
        if elsewhere.status == "matched":  # say where the unit is, rather than that it is nowhere
            return _within(elsewhere, province)
    base, hints = _split_suffix(name)
    if whole.status != "not_found" or not hints:
        return whole
    # 'Chiềng Xôm - TP Sơn La': the rest of the text names the parents.
    split = _resolve_name(
        base, parent or hints[0], grandparent or (hints[1] if len(hints) > 1 else None), versions, level
    )
    return split if split.status != "not_found" else whole


def _in_province(key: str, province: str) -> bool:
    unit = index().units[key]
    return unit.province_key in _provinces(unit.list_version, tidy(province))


def _within(got: Resolution, province: str | None) -> Resolution:
    """A unit outside the department's province is not an answer: the report says where it is."""
    if not province or got.status != "matched" or _in_province(got.unit.key, province):
        return got
    return Resolution(
        "not_found",
        candidates=[got.unit],
        outside=province,
        reason=f"{got.unit.path} is outside {province}, the province of the department",
    )


def _scopes(versions: list[str], parent: str | None, grandparent: str | None):
    scopes: dict[str, frozenset[str] | None] = {}
    problems = []
    for version in versions:
        scope, problem = _scope(version, tidy(parent) if parent else None, tidy(grandparent) if grandparent else None)
        scopes[version] = scope
        if problem:
            problems.append(problem)
    return scopes, problems


def _resolve_code(name: str, code: str, versions: list[str], level: str) -> Resolution:
    """A code is read in its list; a name given with it must fit the unit the code names."""
    idx = index()
    width = {"commune": 5, "district": 3, "province": 2}[level]
    code = code.zfill(width) if code.isdigit() else code  # Excel drops leading zeros
    by_code = [ref.unit_key(v, level, code) for v in versions if ref.unit_key(v, level, code) in idx.units]
    if name:
        fitting = [k for k in by_code if k in _match(name, idx.units[k].list_version, level, None)]
        if len(fitting) == 1:
            return Resolution("matched", idx.candidate(fitting[0]))
        by_name = [k for v in versions for k in _match(name, v, level, None)]
        reason = (
            f"code {code} is {', '.join(idx.units[k].name for k in by_code)}, not '{name}'"
            if by_code
            else f"code {code} is not an official {level} code"
        )
        return Resolution(
            "ambiguous" if by_code or by_name else "not_found",
            candidates=[idx.candidate(k) for k in dict.fromkeys(by_code + by_name)],
            reason=reason,
        )
    if len(by_code) == 1:
        return Resolution("matched", idx.candidate(by_code[0]))
    if by_code:
        return Resolution(
            "ambiguous",
            candidates=[idx.candidate(k) for k in by_code],
            reason=f"code {code} exists in several lists; give the date or list version",
        )
    return Resolution("not_found", reason=f"code {code} is not an official {level} code")


def _resolve_name(
    name: str, parent: str | None, grandparent: str | None, versions: list[str], level: str
) -> Resolution:
    idx = index()
    scopes, problems = _scopes(versions, parent, grandparent)
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
        old = resolve(name, parent, grandparent, list_version=ref.OLD, level=level)
        if old.status == "matched":
            successors = sorted(idx.successors.get(old.unit.key, ()))
            return Resolution(
                "not_found",
                candidates=[idx.candidate(k) for k in successors],
                reason=f"'{name}' is a unit of the list before 1 July 2025 ({old.unit.path}); "
                f"it became {', '.join(idx.units[k].name for k in successors)}",
            )
    return Resolution(
        "not_found",
        candidates=_nearest(name, versions, scopes, level),
        reason="; ".join(problems) or f"no official {level} is named '{name}' here",
    )
