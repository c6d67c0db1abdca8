"""The department registry: the departments that send files, by their drop-zone folder name.

`ingest/departments.yaml` declares department kinds (Sở Nông nghiệp và Môi trường `so-nnmt`, Sở Khoa
học và Công nghệ `so-khcn`, the NTM coordination office `vp-ntm`, the one-stop centre `mot-cua`, the
communes' People's Committees `ubnd-xa`, the national office `vp-ntm-trung-uong`): a kind of
`scope: province` is registered for each of today's 34 provinces, read from the official 2025 unit
list (`ntm_core.units.reference`), a kind of `scope: national` once. Folder names follow one rule
(`folder_name`). Departments given by name in the file add to these or add fields to one (`sources`
to fetch from, titles, datasets); a file named by NTM_DEPARTMENTS is merged over the built-in one in
the same way.

It is the one source for the drop zone (`departments`, `province_of`), the portal's organizations
(`organization`) and the freshness expectations (`expected_updates`, written to the dbt seed
`expected_updates.csv` by `ntm units export-seeds`)."""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ntm_core.settings import DBT_SEEDS, REPO_ROOT, departments_file
from ntm_core.yaml_files import read_yaml

BUILT_IN = REPO_ROOT / "ingest" / "departments.yaml"
EXPECTED_UPDATES_SEED = DBT_SEEDS / "program" / "expected_updates.csv"
KINDS = "kinds"  # the one top-level key of a registry file that is not a department
FOLDER_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SEED_COLUMNS = ("department", "dataset", "frequency", "note")


class RegistryError(ValueError):
    """A registry file that cannot be read, or a department that cannot be added."""


@dataclass(frozen=True)
class Province:
    """A province of today's map (the official list in force from 1 July 2025)."""

    code: str
    unit_type: str  # Tỉnh | Thành phố
    name: str  # without its type word: "Sơn La", "Hồ Chí Minh"

    @property
    def folder(self) -> str:
        """The name's part of a folder: no diacritics (đ → d), lower case, hyphens: `ho-chi-minh`."""
        from ntm_core.units.names import plain_key

        return plain_key(self.name).replace(" ", "-")

    @property
    def in_vietnamese(self) -> str:
        return f"{self.unit_type.lower()} {self.name}"  # "tỉnh Sơn La", "thành phố Huế"

    @property
    def in_english(self) -> str:
        from ntm_core.units.names import plain_key

        words = plain_key(self.name).title()  # "Son La", "Ho Chi Minh"
        return f"{words} City" if self.unit_type == "Thành phố" else words


@lru_cache(maxsize=1)
def provinces() -> tuple[Province, ...]:
    """Today's 34 provinces, by code, from the official unit list."""
    from ntm_core.units import reference as ref

    return tuple(
        Province(u.code, u.unit_type, u.short_name) for u in sorted(ref.provinces_of_2025(), key=lambda u: u.code)
    )


def find_province(written) -> Province | None:
    """The province of today's map a registry entry names: its code, its name with or without its type
    word and diacritics (`Lào Cai`, `Tỉnh Lào Cai`, `lao cai`, `15`); None for any other text."""
    from ntm_core.units.names import plain_key

    text = str(written).strip() if written is not None else ""
    if not text:
        return None
    code = text.zfill(2) if text.isdigit() else None
    key = plain_key(text)
    for province in provinces():
        if code == province.code or key in (
            plain_key(province.name),
            plain_key(f"{province.unit_type} {province.name}"),
        ):
            return province
    return None


def folder_name(prefix: str, province: Province | None) -> str:
    """The rule: the kind's prefix, then `-` and the province's name without its type word, diacritics
    removed, lower case, spaces as hyphens (`so-khcn-lao-cai`); a national department is its prefix."""
    return f"{prefix}-{province.folder}" if province else prefix


def registry_files(extra: Path | None = None) -> list[Path]:
    """The built-in registry, then the file NTM_DEPARTMENTS names (and `extra`), each merged over the last."""
    files = [BUILT_IN]
    for path in (departments_file(), extra):
        if path is not None and path.resolve() not in {f.resolve() for f in files}:
            files.append(path)
    return files


def departments() -> dict[str, dict]:
    """Every registered department by folder name: kind, province (its name on today's map, as unit
    names are resolved within it; None for the national office), province_code, title, title_en,
    datasets (each with its expected `frequency` or None, and the `source` of that frequency), sources."""
    return _registry(_stamps(registry_files()))[1]


def kinds() -> dict[str, dict]:
    return _registry(_stamps(registry_files()))[0]


def built_in_departments() -> dict[str, dict]:
    """The repository's registry alone (what the committed seed is written from)."""
    return _registry(_stamps([BUILT_IN]))[1]


def province_of(department: str) -> str | None:
    return (departments().get(department) or {}).get("province")


def department(name: str) -> dict | None:
    return departments().get(name)


def listed(kind: str | None = None, province: str | None = None) -> dict[str, dict]:
    """The registered departments, optionally of one kind and/or one province (any way it is written)."""
    wanted = find_province(province) if province else None
    return {
        name: entry
        for name, entry in departments().items()
        if (kind is None or entry["kind"] == kind)
        and (province is None or (entry["province_code"] == wanted.code if wanted else entry["province"] == province))
    }


def closest(name: str) -> list[str]:
    return difflib.get_close_matches(name, list(departments()), n=5, cutoff=0.6)


def organization(name: str) -> dict:
    """The portal organization of a department: its titles (and descriptions, when it has them);
    nothing for a folder that is not registered (it is published under its folder name)."""
    entry = departments().get(name)
    if entry is None:
        return {}
    keys = ("title", "title_en", "description", "description_en")
    return {k: entry[k] for k in keys if entry.get(k)}


def expected_updates(registry: dict[str, dict] | None = None) -> list[dict]:
    """One row per department and dataset the program expects on a schedule (seed expected_updates)."""
    registry = built_in_departments() if registry is None else registry
    return [
        {"department": name, "dataset": dataset, "frequency": wanted["frequency"], "note": wanted["source"]}
        for name, entry in sorted(registry.items())
        for dataset, wanted in sorted(entry["datasets"].items())
        if wanted["frequency"]
    ]


def write_expected_updates_seed(path: Path = EXPECTED_UPDATES_SEED) -> Path:
    """Write the dbt seed of the freshness expectations from the built-in registry."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SEED_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(expected_updates())
    return path


def add_department(
    name: str,
    province: str | None = None,
    kind: str | None = None,
    title: str | None = None,
    title_en: str | None = None,
    registry: Path | None = None,
) -> tuple[Path, dict]:
    """Register a department with one line in the registry file `registry` (default: the file
    NTM_DEPARTMENTS names, created if need be); the repository is not touched. Returns the file and
    the department as the registry now reads it."""
    target = registry or departments_file()
    if target is None:
        raise RegistryError(
            "No registry file to add to: set NTM_DEPARTMENTS to a file outside the repository (or give --registry)"
        )
    known_kinds, known = _registry(_stamps(registry_files(target)))
    found = find_province(province) if province else None
    if not FOLDER_NAME.match(name) or name == KINDS:
        raise RegistryError(f"'{name}': a folder name is lower-case letters, digits and hyphens (e.g. so-khcn-lao-cai)")
    if name in known:
        raise RegistryError(f"'{name}' is already registered: {known[name]['title']}")
    if kind is not None and kind not in known_kinds:
        raise RegistryError(f"kind '{kind}' is not registered; the kinds: {', '.join(known_kinds)}")
    if province and found is None:
        raise RegistryError(f"'{province}' is not a province of today's map: {', '.join(p.name for p in provinces())}")
    entry = {"kind": kind, "province": found.name if found else None, "title": title, "title_en": title_en}
    line = f"{name}: " + yaml.safe_dump(
        {k: v for k, v in entry.items() if v}, allow_unicode=True, default_flow_style=True, width=1 << 16
    )
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + ("\n" if text and not text.endswith("\n") else "") + line, encoding="utf-8")
    return target, _registry(_stamps(registry_files(target)))[1][name]


def _stamps(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """The files with their modification times and sizes: an edited registry file is read again."""
    stats = [(p, p.stat() if p.exists() else None) for p in files]
    return tuple((str(p), st.st_mtime_ns if st else 0, st.st_size if st else -1) for p, st in stats)


@lru_cache(maxsize=8)
def _registry(stamps: tuple[tuple[str, int, int], ...]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(kinds, departments) of these registry files, each merged over the ones before it."""
    kinds_read: dict[str, dict] = {}
    named: dict[str, dict] = {}
    for path, *_ in stamps:
        raw = _read(Path(path))
        for prefix, kind in (raw.pop(KINDS, None) or {}).items():
            kinds_read[str(prefix)] = {**kinds_read.get(str(prefix), {}), **(kind or {})}
        for name, entry in raw.items():
            named[str(name)] = {**named.get(str(name), {}), **(entry or {})}
    generated = {
        folder_name(prefix, province): {"kind": prefix, "province": province.name if province else None}
        for prefix, kind in kinds_read.items()
        for province in (provinces() if kind.get("scope", "province") == "province" else (None,))
    }
    every = sorted({*generated, *named})
    return kinds_read, {n: _complete(n, {**generated.get(n, {}), **named.get(n, {})}, kinds_read) for n in every}


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise RegistryError(f"{path}: a registry file is a mapping of `kinds` and departments by folder name")
    return dict(raw)


def _complete(name: str, entry: dict, kinds_read: dict[str, dict]) -> dict:
    """A department's entry with everything its kind and province give it."""
    kind = kinds_read.get(entry.get("kind")) or {}
    province = find_province(entry.get("province"))
    titles = kind.get("title") or {}
    title = entry.get("title") or _fill(titles.get("vi"), province, "vi") or name
    completed = {
        "kind": entry.get("kind"),
        # a name that is not one of today's provinces is kept as written (the resolver reads old names too)
        "province": province.name if province else entry.get("province"),
        "province_code": province.code if province else None,
        "title": title,
        "title_en": entry.get("title_en") or _fill(titles.get("en"), province, "en") or title,
        "datasets": _datasets(entry["datasets"] if "datasets" in entry else kind.get("datasets")),
        "sources": entry.get("sources") or [],
    }
    return {**completed, **{k: v for k, v in entry.items() if k not in completed}}  # and fields of its own


def _fill(template: str | None, province: Province | None, language: str) -> str | None:
    if not template:
        return None
    if "{province}" not in template:
        return template
    if province is None:
        return None
    return template.replace("{province}", province.in_vietnamese if language == "vi" else province.in_english)


def _datasets(given: dict | None) -> dict[str, dict]:
    """{dataset: {frequency, source}} from any of the file's forms: `{frequency: yearly, source: ...}`,
    `yearly`, or nothing (sent on no schedule)."""
    out = {}
    for dataset, wanted in (given or {}).items():
        wanted = wanted if isinstance(wanted, dict) else {"frequency": wanted}
        out[str(dataset)] = {"frequency": wanted.get("frequency") or None, "source": wanted.get("source") or ""}
    return out
