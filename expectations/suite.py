"""Suites as data: turn the YAML in `suites/`, `common.yaml` and `ntm_core/personal_data.yaml` into
Great Expectations expectations for one mart.

Besides GE's own expectation types (`expect_...` with `kwargs`), a suite entry can be:
- `unexpected_rows`: SQL returning the offending rows; `{batch}` is the mart being validated and
  `{mart:NAME}` another mart (for referential integrity). Optional `column` names the column.
- `freshness`: the newest year in `column` (an int year, or text starting with the year such as
  `2024-Q1`) may be at most `max_age_years` before the current year.
- `column_types`: every column has the type its dbt contract declares.
- `row_count_change`: the row count may drop by at most `max_drop_pct` or grow by at most
  `max_growth_pct` against the previous publish (no check before the first publish).
Every entry has a `severity`: `critical` blocks publishing of this mart, `warning` is reported.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from expectations.from_dbt import dbt_entries, same_check
from expectations.gx_duckdb import parquet_sql
from ntm_core.personal import rules as personal_rules
from ntm_core.settings import DBT_MARTS
from ntm_core.yaml_files import read_yaml

HERE = Path(__file__).resolve().parent
SUITES_DIR = HERE / "suites"


def _load(path: Path) -> dict:
    return read_yaml(path)


@cache
def _rules(name: str) -> dict:
    """common.yaml, read once per process (it applies to every mart)."""
    return _load(HERE / name)


def load_suite(mart: str) -> dict | None:
    path = SUITES_DIR / f"{mart}.yaml"
    return _load(path) if path.exists() else None


_DUCKDB_TYPE_NAMES = {"STRING": "VARCHAR", "TEXT": "VARCHAR"}


def dbt_contract_types(mart: str) -> dict[str, str]:
    """Column → DuckDB type name (as `typeof` spells it) from the mart's dbt contract, which spells
    text `string` (DuckDB's and Spark's common name for it)."""
    path = DBT_MARTS / f"{mart}.yml"
    if not path.exists():
        return {}
    model = next((m for m in _load(path).get("models", []) if m["name"] == mart), {})
    return {
        c["name"]: _DUCKDB_TYPE_NAMES.get(c["data_type"].upper(), c["data_type"].upper())
        for c in model.get("columns", [])
        if c.get("data_type")
    }


@dataclass
class SuiteInputs:
    """What a suite's templates are filled with."""

    mart: str
    marts: dict[str, Path]
    previous_rows: int | None = None
    current_year: int = field(default_factory=lambda: dt.date.today().year)


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    """A SQL string literal for GE's query templates, where `{` and `}` must be doubled."""
    return "'" + text.replace("'", "''").replace("{", "{{").replace("}", "}}") + "'"


def _render_sql(sql: str, inputs: SuiteInputs) -> str:
    def mart(match: re.Match) -> str:
        name = match.group(1)
        if name not in inputs.marts:
            raise ValueError(f"the suite refers to mart {name}, which was not built")
        return parquet_sql(inputs.marts[name])

    sql = re.sub(r"\{mart:(\w+)\}", mart, sql)
    return sql.replace("{current_year}", str(inputs.current_year))


def _render_kwargs(kwargs: dict, inputs: SuiteInputs) -> dict:
    return {
        k: (int(v.format(current_year=inputs.current_year)) if isinstance(v, str) and "{current_year}" in v else v)
        for k, v in kwargs.items()
    }


def _meta(spec: dict, column: str | None = None, description: str | None = None, checks: str | None = None) -> dict:
    meta = {"severity": spec.get("severity", "critical")}
    if checks:  # the suite's expectation type, when it runs as another GE expectation
        meta["suite_type"] = checks
    if column or spec.get("column"):
        meta["column"] = column or spec["column"]
    if description or spec.get("description"):
        meta["description"] = description or spec["description"]
    return meta


@dataclass(frozen=True)
class Planned:
    """One expectation as data: GE's expectation type (snake case), its arguments and meta. Both
    engines read it: `to_gx` makes the Great Expectations object, expectations/sql_checks.py runs
    the same check as DuckDB SQL."""

    type: str
    kwargs: dict
    meta: dict


def _unexpected_rows(sql: str, meta: dict) -> Planned:
    return Planned("unexpected_rows_expectation", {"unexpected_rows_query": sql}, meta)


def to_gx(planned: Planned):
    """The Great Expectations expectation of a planned check."""
    import great_expectations as gx

    cls = getattr(gx.expectations, "".join(part.capitalize() for part in planned.type.split("_")))
    if planned.type == "unexpected_rows_expectation":
        return cls(**planned.kwargs, description=planned.meta.get("description"), meta=planned.meta)
    return cls(**planned.kwargs, meta=planned.meta)


def compile_entry(spec: dict, inputs: SuiteInputs) -> list[Planned]:
    """One YAML entry → zero or more planned expectations (no Great Expectations import: the SQL
    engine runs them without it)."""
    kind = spec["type"]
    if kind == "unexpected_rows":
        return [_unexpected_rows(_render_sql(spec["sql"], inputs), _meta(spec))]
    if kind == "freshness":
        year = f"try_cast(left(cast({_quote(spec['column'])} as varchar), 4) as integer)"
        oldest = inputs.current_year - spec["max_age_years"]
        sql = f"select max({year}) as latest_year from {{batch}} having max({year}) < {oldest}"
        return [
            _unexpected_rows(
                sql,
                _meta(
                    spec,
                    description=(f"dữ liệu mới nhất không cũ hơn năm {oldest} / newest data not older than {oldest}"),
                ),
            )
        ]
    if kind == "column_types":
        declared = dbt_contract_types(inputs.mart)
        if not declared:
            raise ValueError(f"no dbt contract with data types for {inputs.mart}")
        found = ", ".join(f"typeof({_quote(c)}) as {_quote(c)}" for c in declared)
        wrong = " or ".join(f"{_quote(c)} <> {_sql_literal(t)}" for c, t in declared.items())
        sql = f"select * from (select {found} from {{batch}} limit 1) where {wrong}"
        return [
            _unexpected_rows(
                sql,
                _meta(
                    spec,
                    description="kiểu dữ liệu đúng hợp đồng dbt / types as in the dbt "
                    "contract: " + ", ".join(f"{c} {t}" for c, t in declared.items()),
                ),
            )
        ]
    if kind == "row_count_change":
        if inputs.previous_rows is None:
            return []
        previous = inputs.previous_rows
        bounds = {}
        if "max_drop_pct" in spec:
            bounds["min_value"] = math.floor(previous * (1 - spec["max_drop_pct"] / 100))
        if "max_growth_pct" in spec:
            bounds["max_value"] = math.ceil(previous * (1 + spec["max_growth_pct"] / 100))
        return [
            Planned(
                "expect_table_row_count_to_be_between",
                bounds,
                _meta(
                    spec,
                    description=(
                        f"so với lần công bố trước ({previous} dòng) / against the previous publish ({previous} rows)"
                    ),
                ),
            )
        ]
    if kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        # GE implements regexes per SQL dialect and has none for DuckDB: the same check in DuckDB SQL.
        column, regex = spec["kwargs"]["column"], spec["kwargs"]["regex"]
        negate = "not " if kind.endswith("_to_match_regex") else ""
        sql = (
            f"select {_quote(column)} from {{batch}} "
            f"where {_quote(column)} is not null and {negate}regexp_matches({_quote(column)}, {_sql_literal(regex)})"
        )
        return [_unexpected_rows(sql, _meta(spec, column, f"'{regex}'", kind))]
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        # GE counts duplicates with a window over every row, several times slower than a GROUP BY in
        # DuckDB on large marts (see benchmarks/bench_validate_large.py). Observed: duplicated keys.
        columns = spec["kwargs"].get("column_list") or [spec["kwargs"]["column"]]
        key = ", ".join(_quote(c) for c in columns)
        present = " and ".join(f"{_quote(c)} is not null" for c in columns)
        sql = f"select {key}, count(*) as copies from {{batch}} where {present} group by {key} having count(*) > 1"
        return [_unexpected_rows(sql, _meta(spec, ",".join(columns), "khóa không trùng lặp / key is unique", kind))]
    return [Planned(kind, _render_kwargs(spec.get("kwargs", {}), inputs), _meta(spec))]


def personal_data_entries(text_columns: list[str]) -> list[dict]:
    """Suite entries that fail when a text column holds values shaped like ID numbers, phones or e-mails."""
    rules = personal_rules()
    patterns = rules["patterns"].values()
    # One alternation per form: numbers are matched with their separators removed, e-mails as written.
    numbers = _sql_literal("|".join(p["regex"] for p in patterns if p.get("compact")))
    written = _sql_literal("|".join(p["regex"] for p in patterns if not p.get("compact")))
    entries = []
    for column in text_columns:
        cell = f"trim({_quote(column)})"
        matches = (
            f"regexp_full_match(regexp_replace({cell}, '[\\s.()-]', '', 'g'), {numbers}) "
            f"or regexp_full_match({cell}, {written})"
        )
        # Only a masked value leaves DuckDB: the report must not repeat the personal data.
        entries.append(
            {
                "type": "unexpected_rows",
                "severity": rules["severity"],
                "column": column,
                "description": "không chứa dữ liệu cá nhân (số CCCD/CMND, điện thoại, email) / "
                "no personal data (citizen ID numbers, phones, e-mails)",
                "sql": f"select left({cell}, 2) || '…' as masked from {{batch}} where {matches}",
            }
        )
    return entries


def suite_entries(mart: str, text_columns: list[str]) -> list[dict] | None:
    """What the mart's dbt YAML declares, the mart's own suite, the rules common to all marts, and
    the personal-data checks. A check the suite states itself is not generated again."""
    own = load_suite(mart)
    if own is None:
        return None
    stated = {same_check(e) for e in own["expectations"]}
    generated = [e for e in dbt_entries(mart) if same_check(e) not in stated]
    return generated + own["expectations"] + _rules("common.yaml")["expectations"] + personal_data_entries(text_columns)
