"""The local portal's manager, `portal/manage.py`: it lives beside the CKAN extensions it installs,
outside the pipeline's packages and the wheel, and is loaded from the checkout when `ntm portal`
(or a test) asks for it."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from ntm_core.settings import REPO_ROOT

MANAGER = REPO_ROOT / "portal" / "manage.py"


def local_portal() -> ModuleType:
    """`portal/manage.py` as a module (up, down, status, Portal)."""
    if "ntm_local_portal" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ntm_local_portal", MANAGER)
        module = importlib.util.module_from_spec(spec)
        sys.modules["ntm_local_portal"] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules["ntm_local_portal"]
