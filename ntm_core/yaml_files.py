"""Reading the project's YAML files (contracts, the department registry, dbt YAML, suites): one loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml's safe loader when PyYAML has it: several times faster than the pure Python one (twelve
# contracts cost 0.4 s of every run's start with it), and the same safe subset of YAML.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=LOADER)
