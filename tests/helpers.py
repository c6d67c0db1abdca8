"""Helpers for tests that build drop zones."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "dropzone"


def drop(
    dropzone: Path,
    department: str,
    dataset: str,
    source: Path | None = None,
    *,
    name: str | None = None,
    content: bytes | None = None,
) -> Path:
    """Put a file into <dropzone>/<department>/<dataset>/, old enough to be picked up."""
    folder = dropzone / department / dataset
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    if source is not None:
        shutil.copyfile(source, target)
    else:
        target.write_bytes(content)
    old = target.stat().st_mtime - 60
    os.utime(target, (old, old))
    return target


@contextlib.contextmanager
def edited_contract(tmp_path: Path, monkeypatch, dataset: str, old: str, new: str):
    """Within the block, the contracts as they are but `dataset`'s with `old` replaced by `new` (a
    contract fixed or tightened since files were received, as a backfill meets it)."""
    import ingest.contract as contract_module

    contracts = tmp_path / "contracts"
    shutil.copytree(contract_module.CONTRACTS_DIR, contracts)
    path = contracts / f"{dataset}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    monkeypatch.setattr(contract_module, "CONTRACTS_DIR", contracts)
    contract_module.all_contracts.cache_clear()
    try:
        yield
    finally:
        contract_module.all_contracts.cache_clear()


def sample(department: str, dataset: str) -> Path:
    return next((SAMPLES / department / dataset).iterdir())


def copy_build(build: tuple[Path, Path], target: Path) -> tuple[Path, Path]:
    """A private copy of the session's sample build (drop zone, data dir) for a test that changes it."""
    dropzone, data_dir = build
    shutil.copytree(dropzone, target / "dropzone")
    shutil.copytree(data_dir, target / "data")
    return target / "dropzone", target / "data"


def tamper(data_dir: Path, mart: str, select: str) -> Path:
    """Rewrite a mart's Parquet file with `select ... from m` (m is the mart as it was)."""
    import duckdb

    path = data_dir / "marts" / f"{mart}.parquet"
    staged = path.with_suffix(".new")
    con = duckdb.connect()
    con.execute(f"create view m as select * from read_parquet('{path}')")
    con.execute(f"copy ({select}) to '{staged}' (format parquet)")
    con.close()
    staged.replace(path)
    return path


def chromium(*args: str) -> str:
    """Headless Chromium (Debian's `chromium`) with these arguments; its standard output."""
    import shutil
    import subprocess

    browser = shutil.which("chromium")
    assert browser, "chromium is not installed (scripts/bootstrap.sh installs Debian's package)"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=15000",
            "--window-size=1280,1400",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


SCREENSHOTS = REPO / "build" / "screenshots"


def screenshots(address: str, shots: dict[str, str]) -> None:
    """A screenshot of each page (name -> path on the portal at `address`) in build/screenshots/,
    each more than a blank page (10 kB). A blank capture is taken once more: headless Chromium
    sometimes paints nothing for a page opened at a #fragment on a loaded machine (seen once in CI,
    on /grid#ntm-criteria-grid); a page that is really blank stays blank."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in shots.items():
        shot = SCREENSHOTS / f"{name}.png"
        for _ in range(2):
            chromium(f"--screenshot={shot}", address + path)
            if shot.stat().st_size > 10_000:
                break
        assert shot.stat().st_size > 10_000, name


def copy_marts(built: Path, data_dir: Path) -> Path:
    """The sample build's marts and dbt manifest in a data dir of their own, to publish from."""
    shutil.copytree(built / "marts", data_dir / "marts")
    (data_dir / "dbt_target").mkdir()
    shutil.copy(built / "dbt_target" / "manifest.json", data_dir / "dbt_target")
    return data_dir


@contextlib.contextmanager
def dataset_prefix(ckan, label: str):
    """Publish under a fresh prefix (`NTM_DATASET_PREFIX`); afterwards the prefix is unset and every
    dataset under it purged."""
    import uuid

    prefix = f"t{uuid.uuid4().hex[:6]}-{label}-"
    os.environ["NTM_DATASET_PREFIX"] = prefix
    try:
        yield prefix
    finally:
        os.environ.pop("NTM_DATASET_PREFIX", None)
        for name in ckan.action.package_list():
            if name.startswith(prefix):
                ckan.action.dataset_purge(id=name)


def declared_indicators() -> dict[str, dict]:
    """Every `meta.indicator` of the marts' dbt YAML: id -> declaration (with its mart and column)."""
    import yaml

    found = {}
    for path in sorted((REPO / "dbt_project" / "models" / "marts").glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            for column in model.get("columns", []):
                if declared := (column.get("meta") or {}).get("indicator"):
                    assert declared["id"] not in found, f"{declared['id']} declared twice"
                    found[declared["id"]] = {**declared, "mart": model["name"], "column": column["name"]}
    return found


# The marts the portal's own pages (home, places, indicators, the grid, a dataset) read.
SITE_MARTS = [
    "dim_admin_unit",
    "dim_admin_unit_crosswalk",
    "dim_criterion",
    "fact_digital_infrastructure",
    "fact_dataset_freshness",
]


@contextlib.contextmanager
def published_site(ckan, data_dir: Path, label: str):
    """SITE_MARTS from `data_dir` and the map published under a fresh prefix (`dataset_prefix`),
    which is unset once they are published; yields {mart: dataset name} with "map" (the map's
    dataset) and "prefix"; afterwards every dataset under the prefix is purged."""
    from publish.run import PublishResult, publish_map_files, publish_marts

    with dataset_prefix(ckan, label) as prefix:
        try:
            published = publish_marts({m: data_dir / "marts" / f"{m}.parquet" for m in SITE_MARTS}, {}, data_dir)
            [(map_dataset, _)] = publish_map_files(PublishResult()).maps
        finally:
            os.environ.pop("NTM_DATASET_PREFIX", None)
        yield {p.mart: p.name for p in published.datasets} | {"map": map_dataset, "prefix": prefix}
