"""Dataset contracts: the YAML files in `contracts/` say what each departmental dataset looks like."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.values import COMMA, NUMERIC, fold
from ntm_core.yaml_files import read_yaml

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    aliases: tuple[str, ...]
    required: bool = False
    width: int | None = None
    unit: str | None = None
    range: tuple[float | None, float | None] | None = None
    allowed: tuple[str, ...] | None = None
    description: dict = field(default_factory=dict)
    personal: bool = False  # recognised in the header, never stored past the raw file
    default: Any = None  # the value of a blank cell
    decimal: str = COMMA  # numbers: the decimal mark, decided per file (ingest.table.file_columns)


FIGURE_TYPES = (*NUMERIC, "status", "boolean")


@dataclass(frozen=True)
class Contract:
    id: str
    title: dict
    description: dict
    grain: str
    unit_levels: tuple[str, ...]  # province, district (before 1 July 2025), commune; () for no unit
    keys: tuple[str, ...]
    bad_rows: str
    columns: tuple[Column, ...]
    period: dict
    # who may send it: {kinds: [department kinds], reason: {vi, en}}; empty: any registered department
    senders: dict = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def stored_columns(self) -> list[Column]:
        """The columns that reach bronze: everything but personal data."""
        return [c for c in self.columns if not c.personal]

    @property
    def figure_columns(self) -> list[Column]:
        """The columns that carry the figures (numbers, results, yes/no), not the unit or the key:
        a row without any of them says nothing."""
        return [c for c in self.stored_columns if c.type in FIGURE_TYPES and c.name not in self.keys]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def alias_index(self) -> dict[str, str]:
        """Folded header text -> canonical column name (the canonical name itself is accepted too)."""
        index: dict[str, str] = {}
        for col in self.columns:
            for alias in (col.name, *col.aliases):
                index[fold(alias)] = col.name
        return index


def _column(raw: dict[str, Any]) -> Column:
    rng = raw.get("range")
    return Column(
        name=raw["name"],
        type=raw["type"],
        aliases=tuple(raw.get("aliases", [])),
        required=bool(raw.get("required", False)),
        width=raw.get("width"),
        unit=raw.get("unit"),
        range=tuple(rng) if rng else None,
        allowed=tuple(raw["allowed"]) if raw.get("allowed") else None,
        description=raw.get("description", {}),
        personal=bool(raw.get("personal", False)),
        default=raw.get("default"),
    )


UNIT_LEVELS = ("province", "district", "commune")  # hamlets stay names under their commune


def _unit_levels(raw: dict[str, Any]) -> tuple[str, ...]:
    levels = tuple(raw.get("unit_levels", ["commune"]))
    unknown = [lvl for lvl in levels if lvl not in UNIT_LEVELS]
    if unknown:
        raise ValueError(f"contract {raw['id']}: unit_levels {unknown} not among {UNIT_LEVELS}")
    return levels


def load_contract(path: Path) -> Contract:
    raw = read_yaml(path)
    return Contract(
        id=raw["id"],
        title=raw["title"],
        description=raw.get("description", {}),
        grain=raw["grain"],
        unit_levels=_unit_levels(raw),
        keys=tuple(raw["keys"]),
        bad_rows=raw.get("bad_rows", "quarantine"),
        columns=tuple(_column(c) for c in raw["columns"]),
        period=raw.get("period", {}),
        senders=raw.get("senders") or {},
    )


@lru_cache(maxsize=1)
def all_contracts() -> dict[str, Contract]:
    return {c.id: c for c in (load_contract(p) for p in sorted(CONTRACTS_DIR.glob("*.yaml")))}
