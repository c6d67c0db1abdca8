"""What personal data looks like, in one place: the column names (`personal_data.yaml`, beside this
file, and the columns a dataset contract flags `personal: true`) and the shapes of its values
(citizen IDs, phone numbers, e-mails). Ingest drops such columns, validation looks for such
values, and publishing refuses any mart that still has such a column."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ntm_core.settings import REPO_ROOT
from ntm_core.units.names import plain_key
from ntm_core.yaml_files import read_yaml

RULES = Path(__file__).resolve().parent / "personal_data.yaml"
CONTRACTS_DIR = REPO_ROOT / "ingest" / "contracts"


@lru_cache(maxsize=1)
def rules() -> dict:
    """`column_names`, `patterns` and the `severity` of a personal value found in a mart."""
    return read_yaml(RULES)


@lru_cache(maxsize=1)
def contract_flagged() -> frozenset[str]:
    """The columns the dataset contracts flag `personal: true` (read as data, from their YAML)."""
    names = set()
    for path in sorted(CONTRACTS_DIR.glob("*.yaml")):
        contract = read_yaml(path)
        names |= {c["name"] for c in contract.get("columns", []) if c.get("personal")}
    return frozenset(names)


def named_like_personal_data(columns: list[str]) -> list[str]:
    """Columns whose name says they hold personal data."""
    flagged = []
    for column in columns:
        key = "_" + plain_key(column).replace(" ", "_") + "_"
        if any(f"_{word}_" in key or key.startswith(f"_{word}") for word in rules()["column_names"]):
            flagged.append(column)
    return flagged


def personal_columns(columns: list[str]) -> list[str]:
    """Columns that are personal data: named like it, or flagged so by a contract."""
    return sorted(set(named_like_personal_data(columns)) | (set(columns) & contract_flagged()))
