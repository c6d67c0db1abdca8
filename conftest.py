"""Fixtures shared by every test folder (tests/ and the portal extension's tests). The portal
fixture starts the real local CKAN (PostgreSQL, Redis, DataStore) on loopback once per session,
the same way `ntm portal up` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def portal():
    from ntm.local_portal import local_portal

    portal_mod = local_portal()

    p = portal_mod.up()
    return p


@pytest.fixture(scope="session")
def ckan(portal):
    from publish.client import connect

    return connect()


@pytest.fixture
def portal_pg_database(portal):
    """A database of its own on the local portal's PostgreSQL server (superuser `postgres`,
    trusted on loopback), as a SQLAlchemy URL; dropped afterwards."""
    import uuid

    import psycopg

    from ntm_core.settings import portal_pg_port

    name = "scratch_" + uuid.uuid4().hex[:8]
    admin = f"host=127.0.0.1 port={portal_pg_port()} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{portal_pg_port()}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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

    value = (
        "t" + uuid.uuid4().hex[:6] + "-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:30].strip("-") + "-"
    )
    os.environ["NTM_DATASET_PREFIX"] = value
    yield value
    os.environ.pop("NTM_DATASET_PREFIX", None)
    if "ckan" in request.fixturenames:
        ckan = request.getfixturevalue("ckan")
        for name in ckan.action.package_list():
            if name.startswith(value):
                ckan.action.dataset_purge(id=name)


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> tuple[Path, Path]:
    """The bundled samples ingested and built by dbt once per session: (drop zone, data dir).
    Read-only: a test that changes files or marts works on a copy (helpers.copy_build)."""
    import shutil

    from ingest.run import ingest_dropzone
    from ntm.transform import transform

    root = tmp_path_factory.mktemp("sample_build")
    dropzone, data_dir = root / "dropzone", root / "data"
    shutil.copytree(Path(__file__).parent / "samples" / "dropzone", dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):
        os.utime(path, (path.stat().st_mtime - 60,) * 2)
    ingest_dropzone(dropzone, data_dir, "r1")
    result = transform(data_dir)
    assert result.success, result.failures
    return dropzone, data_dir


@pytest.fixture
def marts_copy(sample_build, tmp_path) -> Path:
    """A data dir holding a copy of the sample build's marts and dbt manifest, to change at will."""
    import shutil

    _, built = sample_build
    data_dir = tmp_path / "built"
    shutil.copytree(built / "marts", data_dir / "marts")
    (data_dir / "dbt_target").mkdir()
    shutil.copy(built / "dbt_target" / "manifest.json", data_dir / "dbt_target")
    return data_dir
