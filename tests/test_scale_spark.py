"""The dbt project on Spark (#19): dbt-spark in session mode, on a local pyspark, builds the sample
build's bronze files and ledger, with the project's data and unit tests, and every mart equals
the DuckDB build's row for row, column for column, type for type.

Marked `scale` (`make test-scale`). Skipped, with the reason, where Java or the `spark` extra is
missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ntm.spark_build import SPARK_TARGET, SparkUnavailable, build_on_spark, spark_missing

WHY_NOT = spark_missing()
needs_spark = pytest.mark.skipif(WHY_NOT is not None, reason=f"Spark cannot run here: {WHY_NOT}")
pytestmark = pytest.mark.scale


@pytest.fixture(scope="module")
def spark_build(sample_build, tmp_path_factory):
    """The sample build's inputs (bronze, ledger) in a data dir of their own, built on Spark."""
    _, built = sample_build
    data_dir = tmp_path_factory.mktemp("spark_build") / "data"
    shutil.copytree(built / "bronze", data_dir / "bronze")
    shutil.copy(built / "ledger.parquet", data_dir / "ledger.parquet")
    return built, data_dir, build_on_spark(data_dir)


def _columns(con, path: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind, *_ in con.sql(f"describe select * from {path}").fetchall()]


@needs_spark
def test_the_spark_build_passes_the_projects_own_tests(spark_build):
    _, data_dir, result = spark_build
    assert result.success, result.failures
    results = json.loads((data_dir / SPARK_TARGET / "run_results.json").read_text())["results"]
    by_kind: dict[str, list[str]] = {}
    for node in results:
        by_kind.setdefault(node["unique_id"].split(".")[0], []).append(node["status"])
    # Seeds, models, data tests and unit tests all ran on Spark, and all passed.
    assert {"seed", "model", "test", "unit_test"} <= set(by_kind), by_kind.keys()
    assert all(status in ("success", "pass") for statuses in by_kind.values() for status in statuses)
    assert len(by_kind["test"]) > 100


@needs_spark
def test_every_mart_built_on_spark_equals_the_duckdb_build_row_for_row(spark_build):
    built, data_dir, result = spark_build
    duckdb_marts = sorted(p.stem for p in (built / "marts").glob("*.parquet"))
    assert sorted(result.marts) == duckdb_marts and len(duckdb_marts) >= 16
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for mart in duckdb_marts:
        on_duckdb = f"'{built / 'marts' / mart}.parquet'"
        on_spark = f"'{result.marts[mart]}/*.parquet'"
        assert _columns(con, on_spark) == _columns(con, on_duckdb), mart
        rows = con.sql(f"select count(*) from {on_duckdb}").fetchone()[0]
        assert con.sql(f"select count(*) from {on_spark}").fetchone()[0] == rows, mart
        for left, right in ((on_duckdb, on_spark), (on_spark, on_duckdb)):
            extra = con.sql(f"select * from {left} except all select * from {right}").fetchall()
            assert extra == [], f"{mart}: rows of {left} not in {right}: {extra[:3]}"
    # Not empty marts compared with empty ones: the samples fill every fact.
    assert con.sql(f"select count(*) from '{result.marts['fact_commune_scorecard']}/*.parquet'").fetchone()[0] > 0


@needs_spark
def test_the_spark_build_leaves_the_duckdb_marts_alone(spark_build):
    _, data_dir, _ = spark_build
    assert not (data_dir / "marts").exists() and not (data_dir / "lake").exists()


@needs_spark
def test_a_build_that_stops_early_says_why(tmp_path):
    # Bronze without its files (a folder emptied by hand): Spark cannot read the source, and dbt stops
    # in its first hook, before writing run results. The failure carries dbt's own last words.
    (tmp_path / "bronze" / "commune_criteria").mkdir(parents=True)
    (tmp_path / "ledger.parquet").write_bytes(b"")
    result = build_on_spark(tmp_path, data_tests=False)
    assert not result.success and not result.marts
    assert "dbt stopped before building anything" in result.failures[0]
    assert "bronze/commune_criteria/*.parquet" in result.failures[0] and "\x1b[" not in result.failures[0]
    assert build_on_spark(tmp_path / "nowhere").failures == [
        f"{tmp_path / 'nowhere'} has no ledger.parquet nor bronze files: run `ntm ingest` first"
    ]


def test_without_java_the_build_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    assert "Java 17" in spark_missing()
    with pytest.raises(SparkUnavailable, match="no Java on this machine"):
        build_on_spark(tmp_path)
    assert not (tmp_path / "marts_spark").exists()


def test_the_cli_refuses_duckdb_only_options_on_spark(capsys):
    from ntm.cli import main

    assert main(["--data-dir", str(Path("/nonexistent")), "transform", "--engine", "spark", "--changed"]) == 2
    assert "always a full one" in capsys.readouterr().out


def test_the_docs_table_names_every_dispatched_macro_and_only_those():
    # docs/spark.md lists what differs between the engines; the macros are the truth.
    import re

    from ntm_core.settings import REPO_ROOT

    macros = REPO_ROOT / "dbt_project" / "macros"
    dispatched = {
        name
        for path in macros.glob("*.sql")
        for name in re.findall(r"adapter\.dispatch\('(\w+)'\)", path.read_text())
        if name != "load_csv_rows"
    } | {"union_all_by_name"}
    table = (REPO_ROOT / "docs" / "spark.md").read_text().split("| macro |", 1)[1].split("\n\n", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines()[2:]]
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)", cell)}
    assert documented == dispatched
