"""Fixtures shared by every test folder (tests/ and the portal extension's tests). The portal fixture starts the real local CKAN (PostgreSQL, Redis, DataStore)
on loopback once per session, the same way `ntm portal up` does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def portal():
    from ntm import portal as portal_mod

    p = portal_mod.up()
    return p


@pytest.fixture(scope="session")
def ckan(portal):
    from publish.client import connect

    return connect()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def dropzone(tmp_path: Path) -> Path:
    """An empty drop zone; tests copy or write the files they need into it."""
    d = tmp_path / "dropzone"
    d.mkdir()
    return d


@pytest.fixture
def prefix(request) -> str:
    """A dataset-name prefix unique to the test run, so tests never see each other's datasets
    (nor those of an earlier run on the same portal). The datasets are purged afterwards."""
    import re
    import uuid

    value = "t" + uuid.uuid4().hex[:6] + "-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:30].strip("-") + "-"
    os.environ["NTM_DATASET_PREFIX"] = value
    yield value
    os.environ.pop("NTM_DATASET_PREFIX", None)
    if "ckan" in request.fixturenames:
        ckan = request.getfixturevalue("ckan")
        for name in ckan.action.package_list():
            if name.startswith(value):
                ckan.action.dataset_purge(id=name)
