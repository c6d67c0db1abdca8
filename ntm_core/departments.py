"""The department registry (`NTM_DEPARTMENTS`, default `ingest/departments.yaml`): the departments
that send files, by their drop-zone folder name, each with its province (a department submits only
for its own province) and the URLs it publishes at."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ntm_core.settings import departments_file


def departments() -> dict[str, dict]:
    """The registry (NTM_DEPARTMENTS names another file, e.g. for a test or a province)."""
    return _load(str(departments_file()))


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def province_of(department: str) -> str | None:
    return departments().get(department, {}).get("province")
