"""The planned expectations of a suite (suite.Planned) run as DuckDB SQL, without Great Expectations.

Importing GE and building its context costs seconds before the first mart (benchmarks/RESULTS.md);
a run that validates the one or two marts a small file changed cannot afford it. The checks are
the same ones, compiled from the same suite entries, with GE's semantics for each expectation type
(tests/test_validation_sql.py runs both engines on every sample mart and on each kind of failure
and compares the checks one by one): nulls are not "unexpected" except for not-null, a column set
matches case-insensitively, an unexpected-rows query gets `{batch}` as GE formats it. The column
checks of a mart are counted in one scan; only a failed check reads its first offending values.

A suite using an expectation type or an argument (`mostly`) this module does not know is run by GE
instead (`supported`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from expectations.gx_duckdb import parquet_sql
from expectations.suite import Planned
from ntm_core.settings import duckdb_memory

SAMPLE = 10  # offending values kept per failed check, as GE's partial_unexpected_count in validate.py

# Column checks: GE type -> SQL condition of an unexpected row, from (quoted column, kwargs).
COLUMN_TYPES = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
)
TABLE_TYPES = (
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_table_row_count_to_equal",
    "expect_column_proportion_of_non_null_values_to_be_between",
    "unexpected_rows_expectation",
)


# Arguments of GE's this module does not compile; a suite using one is run by GE.
UNCOMPILED_ARGUMENTS = ("mostly", "row_condition", "condition_parser", "parse_strings_as_datetimes")


def supported(planned: list[Planned]) -> bool:
    """Whether every check of the suite compiles to SQL with GE's meaning: a known type, and none of
    the arguments that would change it (`mostly` lets a share of rows fail: compiled without it, the
    SQL check would block what GE passes)."""
    return all(p.type in COLUMN_TYPES + TABLE_TYPES and not set(UNCOMPILED_ARGUMENTS) & set(p.kwargs) for p in planned)


def connect():
    """An in-memory DuckDB with the memory limit and threads GE's datasource has (gx_duckdb.py)."""
    import duckdb

    return duckdb.connect(config={"memory_limit": duckdb_memory(), "threads": os.cpu_count() or 1})


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _unexpected_condition(p: Planned) -> str:
    column = _quote(p.kwargs["column"])
    if p.type == "expect_column_values_to_not_be_null":
        return f"{column} is null"
    if p.type == "expect_column_values_to_be_in_set":
        values = p.kwargs.get("value_set") or []
        inside = f"{column} in ({', '.join(map(_literal, values))})" if values else "false"
        return f"{column} is not null and not ({inside})"
    # expect_column_values_to_be_between: inclusive bounds, either may be absent; nulls are missing
    outside = [f"{column} < {_literal(p.kwargs['min_value'])}"] if p.kwargs.get("min_value") is not None else []
    if p.kwargs.get("max_value") is not None:
        outside.append(f"{column} > {_literal(p.kwargs['max_value'])}")
    if not outside:
        raise ValueError("expect_column_values_to_be_between needs min_value or max_value")
    return f"{column} is not null and ({' or '.join(outside)})"


def batch_query(query: str, parquet: Path) -> str:
    """An unexpected-rows query with its `{batch}`, substituted as GE does (str.format: doubled
    braces become single ones)."""
    return query.format(batch=parquet_sql(parquet))


def _aggregate(p: Planned) -> str | None:
    """The aggregate a check needs from the one scan of the mart, or None when it needs none."""
    if p.type in COLUMN_TYPES:
        return f"count(*) filter (where {_unexpected_condition(p)})"
    if p.type == "expect_column_proportion_of_non_null_values_to_be_between":
        return f"count({_quote(p.kwargs['column'])})"
    return None


class Outcome:
    """What a check found: success, GE's observed value, the first offending values."""

    def __init__(self, success: bool, observed: Any = None, sample: list | None = None):
        self.success, self.observed, self.sample = success, observed, sample or []


def _between(value, kwargs: dict) -> bool:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    return (low is None or value >= low) and (high is None or value <= high)


def _columns_match(found: list[str], kwargs: dict) -> Outcome:
    """GE's SQL variant: a quoted expected name matches exactly, others case-insensitively."""
    expected = list(kwargs.get("column_set") or [])
    exact = {c[1:-1] for c in expected if c.startswith('"') and c.endswith('"')}
    loose = {c.casefold() for c in expected if not (c.startswith('"') and c.endswith('"'))}
    unmatched_found = [c for c in found if c not in exact and c.casefold() not in loose]
    matched = {c.casefold() for c in found}
    unmatched_expected = [c for c in exact if c not in found] + [c for c in loose if c not in matched]
    same = not unmatched_found and not unmatched_expected
    return Outcome(same or kwargs.get("exact_match") is False, sorted(found))


def _error(error: Exception) -> Outcome:
    return Outcome(False, f"error: {error}")


def run(planned: list[Planned], parquet: Path, con) -> list[Outcome]:
    """Each planned check's outcome, in order."""
    source = parquet_sql(parquet)
    try:
        found = [d[0] for d in con.execute(f"select * from {source} limit 0").description]
    except Exception as error:  # an unreadable file fails every check, as it does in GE
        return [_error(error) for _ in planned]
    scanned = _scan(planned, source, con)
    outcomes = []
    for index, p in enumerate(planned):
        try:
            outcomes.append(_outcome(p, index, scanned, found, parquet, source, con))
        except Exception as error:  # noqa: BLE001 - GE reports any error as the check's failure
            outcomes.append(_error(error))
    return outcomes


def _scan(planned: list[Planned], source: str, con) -> dict:
    """Row count and every aggregate in one pass; on an error (a missing column), one pass per check
    so that the error is the failing check's alone."""
    wanted = {}
    for index, p in enumerate(planned):
        try:
            if (aggregate := _aggregate(p)) is not None:
                wanted[index] = aggregate
        except (KeyError, ValueError) as error:
            wanted[index] = error
    sql_parts = {i: a for i, a in wanted.items() if isinstance(a, str)}
    scanned: dict = {i: a for i, a in wanted.items() if not isinstance(a, str)}
    try:
        values = con.execute(f"select count(*), {', '.join([*sql_parts.values(), '0'])} from {source}").fetchone()
        scanned["rows"] = values[0]
        scanned.update(zip(sql_parts, values[1:], strict=False))
    except Exception:  # noqa: BLE001
        scanned["rows"] = con.execute(f"select count(*) from {source}").fetchone()[0]
        for index, aggregate in sql_parts.items():
            try:
                scanned[index] = con.execute(f"select {aggregate} from {source}").fetchone()[0]
            except Exception as error:  # noqa: BLE001
                scanned[index] = error
    return scanned


def _outcome(p: Planned, index: int, scanned: dict, found: list[str], parquet: Path, source: str, con) -> Outcome:
    if isinstance(scanned.get(index), Exception):
        return _error(scanned[index])
    rows = scanned["rows"]
    if p.type in COLUMN_TYPES:
        unexpected = scanned[index]
        if not unexpected:
            return Outcome(True, 0)
        first = con.execute(
            f"select {_quote(p.kwargs['column'])} from {source} where {_unexpected_condition(p)} limit {SAMPLE}"
        ).fetchall()
        return Outcome(False, unexpected, [row[0] for row in first])
    if p.type == "expect_table_columns_to_match_set":
        return _columns_match(found, p.kwargs)
    if p.type == "expect_table_row_count_to_be_between":
        return Outcome(_between(rows, p.kwargs), rows)
    if p.type == "expect_table_row_count_to_equal":
        return Outcome(rows == p.kwargs["value"], rows)
    if p.type == "expect_column_proportion_of_non_null_values_to_be_between":
        proportion = scanned[index] / rows if rows else None
        return Outcome(proportion is not None and _between(proportion, p.kwargs), proportion)
    # unexpected_rows_expectation
    query = batch_query(p.kwargs["unexpected_rows_query"], parquet)
    count = con.execute(f"select count(*) from ({query})").fetchone()[0]
    return Outcome(count == 0, count)
