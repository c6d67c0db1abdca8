"""The validation gate: each kind of critical expectation, run by Great Expectations on a mart made
wrong on purpose, blocks that mart and only that mart."""

import json

import duckdb
import pytest
from helpers import tamper

from expectations.validate import validate_marts
from ntm import pipeline
from ntm_core.published import record_publish


def failed(validation):
    return {(c.expectation.split(":")[0], c.column) for c in validation.failed_critical}


# (mart, how it is made wrong, the expectation and column that must fail)
CRITICAL_CASES = {
    "schema": ("fact_cooperatives", "select *, 1 as extra from m", ("expect_table_columns_to_match_set", None)),
    "types": (
        "fact_community_digital_teams",
        "select * replace (cast(year as varchar) as year) from m",
        ("unexpected_rows_expectation", None),
    ),
    "unique key": (
        "fact_digital_infrastructure",
        "select * from m union all (select * from m limit 1)",
        ("expect_compound_columns_to_be_unique", "unit_key,year"),
    ),
    "not null": (
        "fact_ocop_products",
        "select * replace (cast(null as varchar) as product_name) from m",
        ("expect_column_values_to_not_be_null", "product_name"),
    ),
    "unknown unit": (
        "fact_commune_scorecard",
        "select * replace ('2025:commune:99999' as current_unit_key) from m",
        ("unexpected_rows_expectation", "current_unit_key"),
    ),
    "unknown criterion": (
        "fact_commune_criteria",
        "select * replace ('2021-2025:commune:99.9' as criterion_key) from m",
        ("unexpected_rows_expectation", "criterion_key"),
    ),
    "percentage over 100": (
        "fact_satisfaction_surveys",
        "select * replace (120.5 as satisfied_pct) from m",
        ("expect_column_values_to_be_between", "satisfied_pct"),
    ),
    "negative count": (
        "fact_community_digital_teams",
        "select * replace (-3 as members) from m",
        ("expect_column_values_to_be_between", "members"),
    ),
    "implausible year": (
        "fact_growing_area_codes",
        "select * replace (2031 as year) from m",
        ("expect_column_values_to_be_between", "year"),
    ),
    "code pattern": (
        "fact_digital_infrastructure",
        "select * replace ('3010' as unit_code) from m",
        ("expect_column_values_to_match_regex", "unit_code"),
    ),
    "phone number": (
        "fact_ocop_products",
        "select * replace ('0912 345 678' as producer) from m",
        ("unexpected_rows_expectation", "producer"),
    ),
    "citizen ID": (
        "fact_cooperatives",
        "select * replace ('001203004567' as cooperative_name) from m",
        ("unexpected_rows_expectation", "cooperative_name"),
    ),
    "e-mail": (
        "fact_growing_area_codes",
        "select * replace ('chu.vuon@gmail.com' as crop) from m",
        ("unexpected_rows_expectation", "crop"),
    ),
    "personal column": (
        "fact_satisfaction_surveys",
        "select *, 'Nguyễn Văn A' as \"Họ và tên\" from m",
        ("no_personal_data_columns", "Họ và tên"),
    ),
}


@pytest.mark.parametrize("case", CRITICAL_CASES)
def test_each_kind_of_critical_failure_blocks_only_its_mart(marts_copy, case):
    mart, select, expected = CRITICAL_CASES[case]
    tamper(marts_copy, mart, select)
    other = "fact_ocop_products" if mart == "fact_cooperatives" else "fact_cooperatives"
    marts = {m: marts_copy / "marts" / f"{m}.parquet" for m in (mart, other)}
    result = validate_marts(marts, marts_copy, "run-" + case.replace(" ", "-"))
    assert result.blocked == [mart]
    assert expected in failed(result.marts[mart])
    report = json.loads((marts_copy / "validation" / "latest" / f"{mart}.json").read_text())
    assert report["passed"] is False


def test_personal_data_is_named_by_column_and_never_repeated(marts_copy):
    tamper(
        marts_copy,
        "fact_ocop_products",
        "select * replace (case when product_name = (select min(product_name) "
        "from m) then '0912 345 678' else producer end as producer) from m",
    )
    result = validate_marts(
        {"fact_ocop_products": marts_copy / "marts" / "fact_ocop_products.parquet"}, marts_copy, "run-phone"
    )
    [check] = result.marts["fact_ocop_products"].failed_critical
    assert check.column == "producer" and check.observed == 1
    assert "điện thoại" in check.expectation and "phones" in check.expectation
    stored = (marts_copy / "validation" / "run-phone" / "fact_ocop_products.json").read_text()
    assert "345" not in stored and "0912" not in stored


def test_row_count_drop_against_the_previous_publish_blocks(marts_copy):
    rows = duckdb.sql(f"select count(*) from '{marts_copy}/marts/fact_commune_criteria.parquet'").fetchone()[0]
    record_publish(marts_copy, "fact_commune_criteria", rows)
    mart = {"fact_commune_criteria": marts_copy / "marts" / "fact_commune_criteria.parquet"}
    assert validate_marts(mart, marts_copy, "same").blocked == []
    tamper(marts_copy, "fact_commune_criteria", f"select * from m limit {rows // 2 - 1}")
    result = validate_marts(mart, marts_copy, "halved")
    assert result.blocked == ["fact_commune_criteria"]
    assert failed(result.marts["fact_commune_criteria"]) == {("expect_table_row_count_to_be_between", None)}
    assert result.marts["fact_commune_criteria"].failed_critical[0].observed == rows // 2 - 1


def test_stale_data_is_a_warning_that_still_publishes(marts_copy):
    tamper(marts_copy, "fact_cooperatives", "select * replace (2016 as year) from m")
    result = validate_marts(
        {"fact_cooperatives": marts_copy / "marts" / "fact_cooperatives.parquet"}, marts_copy, "stale"
    )
    validation = result.marts["fact_cooperatives"]
    assert validation.passed
    assert [c.column for c in validation.failed_warnings] == ["year"]
    assert validation.failed_warnings[0].observed == 1


def test_data_docs_are_built_for_the_run(marts_copy):
    tamper(marts_copy, "fact_cooperatives", "select *, 1 as extra from m")
    marts = {m: marts_copy / "marts" / f"{m}.parquet" for m in ("fact_cooperatives", "fact_ocop_products")}
    result = validate_marts(marts, marts_copy, "run-docs")
    assert result.docs == marts_copy / "validation" / "run-docs" / "docs" / "index.html"
    index = result.docs.read_text(encoding="utf-8")
    assert "fact_cooperatives" in index and "fact_ocop_products" in index
    pages = list((result.docs.parent / "validations" / "fact_cooperatives").rglob("*.html"))
    assert len(pages) == 1 and "extra" in pages[0].read_text(encoding="utf-8")


@pytest.mark.portal
def test_blocked_marts_stay_off_the_portal_while_the_others_publish(marts_copy, ckan, prefix):
    tamper(marts_copy, "fact_ocop_products", "select * replace ('0912 345 678' as producer) from m")
    tamper(marts_copy, "fact_satisfaction_surveys", "select * replace (120.5 as satisfied_pct) from m")
    validation = pipeline.validate(marts_copy, "gate")
    assert sorted(validation.blocked) == ["fact_ocop_products", "fact_satisfaction_surveys"]
    chosen = ["fact_ocop_products", "fact_satisfaction_surveys", "fact_cooperatives", "fact_growing_area_codes"]
    published = pipeline.publish(marts_copy, marts=chosen)
    assert sorted(d.mart for d in published.datasets) == ["fact_cooperatives", "fact_growing_area_codes"]
    names = set(ckan.action.package_list())
    assert {prefix + "ntm-hop-tac-xa", prefix + "ntm-ma-so-vung-trong"} <= names
    assert not [n for n in names if n.startswith(prefix) and ("ocop" in n or "khao-sat" in n)]
