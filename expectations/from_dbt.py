"""The rules a mart's dbt YAML already states, as suite entries: its columns, not-null columns,
accepted values (listed, or a seed's column), percentage and non-negative ranges, its primary key
(its `primary_key` constraint) and references to other marts. A rule is written once, in dbt; the
suite file in `suites/` holds only what is particular to its mart (plausible years, code patterns,
freshness, warnings). Where a suite file states the same check itself, its entry wins (a warning
stays a warning)."""

from __future__ import annotations

import re

from ntm_core.marts import primary_key
from ntm_core.settings import DBT_MARTS, DBT_SEEDS
from ntm_core.yaml_files import read_yaml


def seed_values(seed: str, field: str) -> list[str] | None:
    """The values of a seed's column (a vocabulary such as freshness_statuses), or None when `seed`
    is not a seed: a reference to a seed is an accepted-values check."""
    import csv

    found = sorted(DBT_SEEDS.rglob(f"{seed}.csv"))
    if not found:
        return None
    with open(found[0], encoding="utf-8", newline="") as f:
        return [row[field] for row in csv.DictReader(f)]


def dbt_model(mart: str) -> dict:
    path = DBT_MARTS / f"{mart}.yml"
    if not path.exists():
        return {}
    return next((m for m in read_yaml(path).get("models", []) if m["name"] == mart), {})


def dbt_entries(mart: str) -> list[dict]:
    """Suite entries for what the mart's dbt YAML declares (critical: dbt builds them as errors)."""
    model = dbt_model(mart)
    if not model:
        return []
    columns = model.get("columns", [])
    entries = [_entry("expect_table_columns_to_match_set", column_set=[c["name"] for c in columns], exact_match=True)]
    for column in columns:
        for test in column.get("data_tests", []) or []:
            entries += _column_entries(column["name"], test)
    if keys := primary_key(model):
        unique = (
            _entry("expect_compound_columns_to_be_unique", column_list=keys)
            if len(keys) > 1
            else _entry("expect_column_values_to_be_unique", column=keys[0])
        )
        if same_check(unique) not in {same_check(e) for e in entries}:  # a key column also tested `unique`
            entries.append(unique)
    return entries


def _entry(kind: str, **kwargs) -> dict:
    return {"type": kind, "severity": "critical", "kwargs": kwargs}


def _column_entries(column: str, test) -> list[dict]:
    name, arguments = (test, {}) if isinstance(test, str) else next(iter(test.items()))
    arguments = (arguments or {}).get("arguments", arguments or {})
    if name == "not_null":
        return [_entry("expect_column_values_to_not_be_null", column=column)]
    if name == "unique":
        return [_entry("expect_column_values_to_be_unique", column=column)]
    if name == "accepted_values":
        return [_entry("expect_column_values_to_be_in_set", column=column, value_set=list(arguments["values"]))]
    if name == "percentage_range":
        return [_entry("expect_column_values_to_be_between", column=column, min_value=0, max_value=100)]
    if name == "non_negative":
        return [_entry("expect_column_values_to_be_between", column=column, min_value=0)]
    if name == "value_range":
        bounds = {"min_value": arguments["min_value"], "max_value": arguments.get("max_value")}
        bounds = {k: v for k, v in bounds.items() if v is not None}
        return [_entry("expect_column_values_to_be_between", column=column, **bounds)]
    if name == "relationships":
        other, field = re.fullmatch(r"ref\('(\w+)'\)", arguments["to"]).group(1), arguments["field"]
        if (values := seed_values(other, field)) is not None:
            return [_entry("expect_column_values_to_be_in_set", column=column, value_set=values)]
        return [
            {
                "type": "unexpected_rows",
                "severity": "critical",
                "column": column,
                "description": f"mọi {column} có trong {other} / every {column} exists in {other}",
                "sql": f"select {column} from {{batch}} where {column} is not null and {column} not in "
                f"(select {field} from {{mart:{other}}})",
            }
        ]
    return []  # a test with no Great Expectations counterpart stays with dbt


def same_check(entry: dict) -> tuple:
    """What makes two entries the same check, whatever their severity or wording."""
    kwargs = entry.get("kwargs", {})
    column = kwargs.get("column") or entry.get("column")
    columns = tuple(kwargs.get("column_list") or ()) or None
    if entry["type"] == "expect_column_values_to_be_between":
        return entry["type"], column, kwargs.get("min_value"), kwargs.get("max_value")
    return entry["type"], column, columns
