"""Every dataset a department sends has all its pieces: the contract's bronze source, its staging
model, a published mart built from it, and each mart its validation suite and portal metadata. A
missing piece is named (the README's "Adding a dataset" lists the same pieces)."""

from __future__ import annotations

import re

import yaml

from ingest.contract import all_contracts
from ntm_core.settings import DBT_PROJECT, REPO_ROOT

MODELS = DBT_PROJECT / "models"
# `ref('x')`, and a model name handed to a macro as a string (`current_rows('stg_bronze__x', …)`).
REFERENCE = re.compile(r"""ref\(\s*['"](\w+)['"]\s*\)|['"](stg_\w+|int_\w+)['"]""")


def _upstream() -> dict[str, set[str]]:
    """Each model's name -> the models its SQL reads."""
    return {
        path.stem: {a or b for a, b in REFERENCE.findall(path.read_text(encoding="utf-8"))} - {path.stem}
        for path in MODELS.rglob("*.sql")
    }


def _marts_built_from(model: str, upstream: dict[str, set[str]]) -> set[str]:
    marts = {p.stem for p in (MODELS / "marts").glob("*.sql")}
    found, frontier = set(), {model}
    while frontier:
        frontier = {m for m, reads in upstream.items() if reads & frontier} - found
        found |= frontier
    return found & marts


def test_every_contract_has_its_source_staging_model_and_a_mart():
    sources = yaml.safe_load((MODELS / "staging" / "__sources.yml").read_text(encoding="utf-8"))
    bronze = {t["name"] for s in sources["sources"] if s["name"] == "bronze" for t in s["tables"]}
    upstream = _upstream()
    missing = []
    for dataset in sorted(all_contracts()):
        staging = f"stg_bronze__{dataset}"
        if dataset not in bronze:
            missing.append(f"{dataset}: no bronze source in models/staging/__sources.yml")
        for suffix in (".sql", ".yml"):
            if not (MODELS / "staging" / f"{staging}{suffix}").exists():
                missing.append(f"{dataset}: no models/staging/{staging}{suffix}")
        if not _marts_built_from(staging, upstream):
            missing.append(f"{dataset}: no mart is built from {staging}")
    assert missing == []


def test_every_mart_has_its_yaml_suite_and_portal_metadata():
    portal = yaml.safe_load((REPO_ROOT / "publish" / "datasets.yaml").read_text(encoding="utf-8"))
    missing = []
    for mart in sorted(p.stem for p in (MODELS / "marts").glob("*.sql")):
        if not (MODELS / "marts" / f"{mart}.yml").exists():
            missing.append(f"{mart}: no models/marts/{mart}.yml")
        if not (REPO_ROOT / "expectations" / "suites" / f"{mart}.yaml").exists():
            missing.append(f"{mart}: no expectations/suites/{mart}.yaml")
        if mart not in portal:
            missing.append(f"{mart}: no entry in publish/datasets.yaml")
    assert missing == []


def test_the_check_finds_a_missing_piece(tmp_path, monkeypatch):
    """The walk can fail: a contract without its staging model is named."""
    import tests.test_dataset_pieces as pieces

    fake = tmp_path / "models"
    for path in MODELS.rglob("*"):
        if path.is_file() and "stg_bronze__cooperatives" not in path.name:
            target = fake / path.relative_to(MODELS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    monkeypatch.setattr(pieces, "MODELS", fake)
    try:
        pieces.test_every_contract_has_its_source_staging_model_and_a_mart()
    except AssertionError as err:
        assert "cooperatives: no models/staging/stg_bronze__cooperatives.sql" in str(err)
    else:
        raise AssertionError("a missing staging model went unnoticed")
