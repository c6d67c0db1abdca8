"""The run's validation engine (expectations/sql_checks.py: the planned checks as DuckDB SQL, no
Great Expectations) gives the checks Great Expectations gives: on every sample mart, and on each
kind of critical failure of test_validation.py. Check by check: expectation, column, severity,
success, observed value and offending values (an error is an error in both; GE words it its way)."""

from __future__ import annotations

import shutil
from dataclasses import asdict

from helpers import tamper
from test_validation import CRITICAL_CASES

from expectations.validate import validate_marts


def comparable(validation) -> list:
    """The checks, in a fixed order (GE reorders its results), an error's wording left out."""
    found = []
    for check in map(asdict, validation.checks):
        if isinstance(check["observed"], str) and check["observed"].startswith("error: "):
            check["observed"] = "error"
        found.append(check)
    return sorted(found, key=repr)


def both_engines(data_dir, marts: dict, run: str):
    by_gx = validate_marts(marts, data_dir, f"{run}-gx", docs=True)
    by_sql = validate_marts(marts, data_dir, f"{run}-sql", docs=False)
    return by_gx, by_sql


def test_every_sample_mart_gets_the_same_checks_from_both_engines(marts_copy):
    marts = {p.stem: p for p in sorted((marts_copy / "marts").glob("*.parquet"))}
    by_gx, by_sql = both_engines(marts_copy, marts, "samples")
    assert set(by_sql.marts) == set(marts) and by_sql.blocked == [] == by_gx.blocked
    for mart in marts:
        assert comparable(by_sql.marts[mart]) == comparable(by_gx.marts[mart]), mart
    assert sum(len(v.checks) for v in by_sql.marts.values()) > 20 * len(marts)
    assert by_sql.docs is None and by_gx.docs.exists()  # Data Docs are GE's


def rounds() -> list[dict]:
    """The failure cases in rounds that each change a mart at most once."""
    found: list[dict] = []
    for case, (mart, select, expected) in CRITICAL_CASES.items():
        free = next((r for r in found if mart not in {m for m, _, _ in r.values()}), None)
        if free is None:
            found.append(free := {})
        free[case] = (mart, select, expected)
    return found


def test_each_kind_of_failure_gets_the_same_checks_from_both_engines(marts_copy, tmp_path):
    for number, cases in enumerate(rounds()):
        data_dir = tmp_path / f"round-{number}"
        shutil.copytree(marts_copy / "marts", data_dir / "marts")
        for mart, select, _ in cases.values():
            tamper(data_dir, mart, select)
        marts = {mart: data_dir / "marts" / f"{mart}.parquet" for mart, _, _ in cases.values()}
        by_gx, by_sql = both_engines(data_dir, marts, f"round-{number}")
        assert sorted(by_sql.blocked) == sorted(marts) == sorted(by_gx.blocked)
        for case, (mart, _, expected) in cases.items():
            failed = {(c.expectation.split(":")[0], c.column) for c in by_sql.marts[mart].failed_critical}
            assert expected in failed, case
            assert comparable(by_sql.marts[mart]) == comparable(by_gx.marts[mart]), case


def test_a_suite_with_an_argument_the_sql_engine_does_not_compile_is_run_by_ge():
    """`mostly` lets a share of rows fail in GE; compiled without it, SQL would block what GE passes."""
    from expectations.sql_checks import supported
    from expectations.suite import Planned

    not_null = Planned("expect_column_values_to_not_be_null", {"column": "commune_code"}, {})
    assert supported([not_null])
    assert not supported([not_null, Planned(not_null.type, {"column": "year", "mostly": 0.95}, {})])
    assert not supported([Planned("expect_column_values_to_match_regex", {"column": "year", "regex": "^2"}, {})])
