"""Every dataset a department sends has all its pieces: the contract's bronze source, its staging
model, a published mart built from it, and each mart its validation suite and its portal description
(`meta.portal` in its dbt YAML) and primary key, each stated once. A missing piece is named (the
README's "Adding a dataset" lists the same pieces)."""

from __future__ import annotations

import re
import unicodedata

import yaml

from expectations.from_dbt import dbt_entries, dbt_model
from ingest.contract import all_contracts
from ntm_core.marts import primary_key
from ntm_core.settings import DBT_PROJECT, REPO_ROOT
from publish.metadata import FREQUENCIES

MODELS = DBT_PROJECT / "models"
# What a mart's dbt YAML says of it under meta.portal, all of which the portal shows.
PORTAL_FIELDS = ("name", "title", "title_en", "notes", "notes_en", "tags", "tags_en", "update_frequency")
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
    missing = []
    for mart in sorted(p.stem for p in (MODELS / "marts").glob("*.sql")):
        if not (MODELS / "marts" / f"{mart}.yml").exists():
            missing.append(f"{mart}: no models/marts/{mart}.yml")
            continue
        if not (REPO_ROOT / "expectations" / "suites" / f"{mart}.yaml").exists():
            missing.append(f"{mart}: no expectations/suites/{mart}.yaml")
        portal = (dbt_model(mart).get("meta") or {}).get("portal") or {}
        if absent := [field for field in PORTAL_FIELDS if not portal.get(field)]:
            missing.append(f"{mart}: models/marts/{mart}.yml has no meta.portal {', '.join(absent)}")
        elif portal["update_frequency"] not in FREQUENCIES:
            missing.append(f"{mart}: meta.portal update_frequency {portal['update_frequency']!r} unknown")
    assert missing == []


def test_portal_names_are_unique_and_every_description_is_in_both_languages():
    portals = {mart: dbt_model(mart)["meta"]["portal"] for mart in _marts()}
    names = [p["name"] for p in portals.values()]
    assert len(set(names)) == len(names) == len(portals) == 16
    assert all(re.fullmatch(r"ntm-[a-z0-9-]+", n) for n in names), names
    for mart, portal in portals.items():
        for field in ("title", "notes", "title_en", "notes_en", *portal["tags"], *portal["tags_en"]):
            text = portal.get(field, field)
            assert text == unicodedata.normalize("NFC", text), (mart, field)
        # Vietnamese where Vietnamese is expected: a diacritic somewhere in the title and description.
        assert re.search(r"[à-ỹđ]", portal["title"] + portal["notes"]), mart


def test_each_mart_states_its_primary_key_once():
    """The key is a `primary_key` constraint (dbt builds it into the table, which refuses a duplicate):
    no `meta.primary_key` nor `unique_combination` test repeats it, and the validation suite checks
    the same columns for uniqueness."""
    twice = []
    for mart in _marts():
        model = dbt_model(mart)
        key = primary_key(model)
        if not key:
            twice.append(f"{mart}: no primary_key constraint")
        if "primary_key" in (model.get("meta") or {}):
            twice.append(f"{mart}: meta.primary_key repeats the constraint")
        if any(isinstance(t, dict) and "unique_combination" in t for t in model.get("data_tests") or []):
            twice.append(f"{mart}: a unique_combination test repeats the constraint")
        checks = [e for e in dbt_entries(mart) if e["type"].endswith("_to_be_unique")]
        unique_sets = [e["kwargs"].get("column_list") or [e["kwargs"]["column"]] for e in checks]
        if key and key not in unique_sets:
            twice.append(f"{mart}: the suite does not check {key} for uniqueness ({unique_sets})")
    assert twice == []


def _marts() -> list[str]:
    return sorted(p.stem for p in (MODELS / "marts").glob("*.sql"))


# A mart's range tests, as the range they check (the contract's `range: [low, high]`).
RANGE_TESTS = {"percentage_range": (0, 100), "non_negative": (0, None)}


def _mart_range(column: dict) -> tuple | None:
    for test in column.get("data_tests") or []:
        name, arguments = (test, {}) if isinstance(test, str) else next(iter(test.items()))
        if name in RANGE_TESTS:
            return RANGE_TESTS[name]
        if name == "value_range":
            arguments = arguments.get("arguments", arguments)
            return (arguments["min_value"], arguments.get("max_value"))
    return None


def test_a_mart_column_from_a_contract_checks_the_contracts_range():
    """Where a mart built from a department's dataset has a column of its contract's name, the mart's
    dbt YAML checks the contract's range (and so does its validation suite): stated in the
    contract, repeated by the mart, they must not drift apart."""
    upstream, differ, checked = _upstream(), [], 0
    for dataset, contract in all_contracts().items():
        for column in (c for c in contract.columns if c.range):
            wanted = tuple(None if b is None else float(b) for b in column.range)
            for mart in _marts_built_from(f"stg_bronze__{dataset}", upstream):
                declared = {c["name"]: c for c in dbt_model(mart).get("columns", [])}
                if column.name not in declared:
                    continue
                checked += 1
                got = _mart_range(declared[column.name])
                got = got and tuple(None if b is None else float(b) for b in got)
                if got != wanted:
                    differ.append(f"{mart}.{column.name}: checks {got}, contract {dataset} says {wanted}")
    assert differ == [] and checked >= 15


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


def test_the_check_finds_a_mart_without_its_portal_description(tmp_path, monkeypatch):
    """The walk can fail: a mart whose dbt YAML lost its meta.portal is named."""
    import shutil

    import expectations.from_dbt as from_dbt

    marts = tmp_path / "marts"
    shutil.copytree(MODELS / "marts", marts)
    path = marts / "fact_cooperatives.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(" portal:\n", " portal_gone:\n", 1), encoding="utf-8")
    monkeypatch.setattr(from_dbt, "DBT_MARTS", marts)
    try:
        test_every_mart_has_its_yaml_suite_and_portal_metadata()
    except AssertionError as err:
        assert "fact_cooperatives: models/marts/fact_cooperatives.yml has no meta.portal name, title" in str(err)
    else:
        raise AssertionError("a mart without its portal description went unnoticed")


def test_a_scaffolded_dataset_has_every_piece(tmp_path, monkeypatch):
    """`ntm datasets new` writes every piece the walk looks for (in a copy of the repository's
    contracts, models and suites), the mart's portal description and key included."""
    import shutil

    import expectations.from_dbt as from_dbt
    import ingest.contract as contract
    import tests.test_dataset_pieces as pieces
    from ntm.scaffold import NewDataset, new_dataset

    root = tmp_path / "repo"
    shutil.copytree(MODELS, root / "dbt_project" / "models")
    shutil.copytree(contract.CONTRACTS_DIR, root / "ingest" / "contracts")
    shutil.copytree(REPO_ROOT / "expectations" / "suites", root / "expectations" / "suites")
    written = new_dataset(NewDataset("irrigation_works", "Công trình thủy lợi", "Irrigation works"), root)
    assert len(written) == 9  # eight new files and the bronze source added to __sources.yml
    monkeypatch.setattr(pieces, "MODELS", root / "dbt_project" / "models")
    monkeypatch.setattr(pieces, "REPO_ROOT", root)
    monkeypatch.setattr(from_dbt, "DBT_MARTS", root / "dbt_project" / "models" / "marts")
    monkeypatch.setattr(contract, "CONTRACTS_DIR", root / "ingest" / "contracts")
    contract.all_contracts.cache_clear()
    try:
        assert contract.all_contracts()["irrigation_works"].keys == ("unit_code", "year")
        pieces.test_every_contract_has_its_source_staging_model_and_a_mart()
        pieces.test_every_mart_has_its_yaml_suite_and_portal_metadata()
        pieces.test_each_mart_states_its_primary_key_once()
        portal = dbt_model("fact_irrigation_works")["meta"]["portal"]
        assert (portal["name"], portal["title"], portal["title_en"]) == (
            "ntm-irrigation-works",
            "Công trình thủy lợi",
            "Irrigation works",
        )
        sources = yaml.safe_load((pieces.MODELS / "staging" / "__sources.yml").read_text(encoding="utf-8"))
        bronze = next(s for s in sources["sources"] if s["name"] == "bronze")
        assert bronze["tables"][-1]["name"] == "irrigation_works"
        assert [s["name"] for s in sources["sources"]] == ["bronze", "lakehouse"]  # the rest as it was
    finally:
        contract.all_contracts.cache_clear()
