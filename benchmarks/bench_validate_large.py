"""Validation of a 10-million-row fact table, against hand-written DuckDB SQL doing the same checks.

    uv run python benchmarks/bench_validate_large.py [--rows 10000000] [--workdir DIR] [--keep]

Generates a Parquet fact table shaped like monthly public-service records per commune, a suite
in the project's YAML form and the dbt contract it checks types against, then times in this process:
  baseline: the same checks written by hand as DuckDB SQL, one query per check
  ntm:      validate_marts() (Great Expectations on DuckDB, Data Docs included)
and prints time, peak memory (RSS sampled every 50 ms) and the ratio. Targets from the issue:
within 3x of the SQL, memory under 2 GB.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from measure import PeakMemory

MART = "fact_bench_records"
COLUMNS = {
    "record_id": "BIGINT",
    "unit_key": "VARCHAR",
    "unit_code": "VARCHAR",
    "year": "INTEGER",
    "period": "VARCHAR",
    "procedure_code": "VARCHAR",
    "applications": "BIGINT",
    "online_pct": "DOUBLE",
    "department": "VARCHAR",
}
SUITE = [
    {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": list(COLUMNS), "exact_match": True}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "record_id"}},
    {
        "type": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": ["unit_key", "period", "procedure_code"]},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "unit_key"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "period"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "year", "min_value": 2015, "max_value": "{current_year}"},
    },
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "applications", "min_value": 0}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "online_pct", "min_value": 0, "max_value": 100},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "unit_code", "regex": "^[0-9]{5}$"}},
    {
        "type": "unexpected_rows",
        "column": "unit_key",
        "sql": "select unit_key from {batch} where unit_key not in (select unit_key from {mart:dim_admin_unit})",
    },
    {"type": "freshness", "column": "year", "max_age_years": 3, "severity": "warning"},
]


def generate(workdir: Path, rows: int) -> tuple[Path, Path]:
    marts = workdir / "data" / "marts"
    marts.mkdir(parents=True)
    dim, fact = marts / "dim_admin_unit.parquet", marts / f"{MART}.parquet"
    duckdb.sql(f"copy (select '2024:commune:' || (20000 + i) as unit_key from range(10000) t(i)) to '{dim}'")
    duckdb.sql(f"""
        copy (
          select r as record_id,
                 -- r = commune + 10,000 x (month + 12 x procedure): the key is unique
                 '2024:commune:' || (20000 + r % 10000) as unit_key, cast(20000 + r % 10000 as varchar) as unit_code,
                 cast(2025 as integer) as year,
                 '2025-' || lpad(cast((r // 10000) % 12 + 1 as varchar), 2, '0') as period,
                 '1.' || lpad(cast(r // 120000 as varchar), 6, '0') as procedure_code,
                 r % 500 as applications, (r % 1001) / 10.0 as online_pct,
                 'mot-cua-tinh-' || (r % 7) as department
          from range({rows}) t(r)
        ) to '{fact}' (format parquet, row_group_size 122880)
    """)
    return dim, fact


def write_suite(workdir: Path) -> tuple[Path, Path]:
    suites, contracts = workdir / "suites", workdir / "contracts"
    suites.mkdir()
    contracts.mkdir()
    entries = [{"severity": "critical", **e} for e in SUITE]
    (suites / f"{MART}.yaml").write_text(yaml.safe_dump({"mart": MART, "expectations": entries}), encoding="utf-8")
    (contracts / f"{MART}.yml").write_text(
        yaml.safe_dump(
            {"models": [{"name": MART, "columns": [{"name": c, "data_type": t.lower()} for c, t in COLUMNS.items()]}]}
        ),
        encoding="utf-8",
    )
    return suites, contracts


def hand_written_checks(con, fact: Path, dim: Path) -> dict[str, object]:
    t = f"read_parquet('{fact}')"
    queries = {
        "columns": f"select list(column_name order by column_name) from (describe select * from {t})",
        "types": f"select list(column_type) from (describe select * from {t})",
        "record_id unique": f"select count(*) - count(distinct record_id) from {t}",
        "key unique": f"select count(*) from (select 1 from {t} group by unit_key, period, procedure_code "
        "having count(*) > 1)",
        "unit_key not null": f"select count(*) from {t} where unit_key is null",
        "period not null": f"select count(*) from {t} where period is null",
        "year range": f"select count(*) from {t} where year not between 2015 and year(current_date)",
        "applications >= 0": f"select count(*) from {t} where applications < 0",
        "online_pct range": f"select count(*) from {t} where online_pct not between 0 and 100",
        "unit_code pattern": f"select count(*) from {t} where not regexp_matches(unit_code, '^[0-9]{{5}}$')",
        "unit_key in dim": f"select count(*) from {t} where unit_key not in (select unit_key from '{dim}')",
        "freshness": f"select max(year) from {t}",
        "row count": f"select count(*) from {t}",
        "personal data": " union all ".join(
            f"select count(*) from {t} where regexp_full_match(regexp_replace(trim({c}), '[\\s.()-]', '', 'g'), "
            "'0[0-9]{11}|[0-9]{9}|(\\+?84|0)([35789][0-9]{8}|2[0-9]{9})') "
            f"or regexp_full_match(trim({c}), '[^@]+@[^@]+\\.[A-Za-z]{{2,}}')"
            for c, kind in COLUMNS.items()
            if kind == "VARCHAR"
        ),
    }
    return {name: con.sql(sql).fetchall() for name, sql in queries.items()}


def measure(workdir: Path, rows: int) -> dict:
    """Generate the table in `workdir`, then time both sides: {rows, ntm_s, ntm_peak, base_s, base_peak, ...}."""
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dim, fact = generate(workdir, rows)
    size = fact.stat().st_size / 1024**2
    print(f"generated {rows:,} rows, {size:,.0f} MB Parquet in {time.perf_counter() - t0:.1f} s")

    # Importing GE takes seconds (more without cached bytecode); a worker pays it once, not per table.
    import great_expectations  # noqa: F401

    import expectations.suite as suite_module
    from ntm_core.settings import duckdb_memory

    memory_limit = duckdb_memory()
    from expectations.validate import validate_marts

    # The benchmark's own suite and contract, not the project's marts.
    saved = suite_module.SUITES_DIR, suite_module.DBT_MARTS
    suite_module.SUITES_DIR, suite_module.DBT_MARTS = write_suite(workdir)
    try:
        with PeakMemory() as ntm_mem:
            t0 = time.perf_counter()
            result = validate_marts({MART: fact}, workdir / "data", "bench")
            ntm_s = time.perf_counter() - t0
    finally:
        suite_module.SUITES_DIR, suite_module.DBT_MARTS = saved
    validation = result.marts[MART]

    with PeakMemory() as base_mem:
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{memory_limit}'")
        hand_written_checks(con, fact, dim)
        base_s = time.perf_counter() - t0
        con.close()
    return {
        "rows": rows,
        "ntm_s": ntm_s,
        "ntm_peak": ntm_mem.peak,
        "base_s": base_s,
        "base_peak": base_mem.peak,
        "checks": len(validation.checks),
        "passed": validation.passed,
        "failed": [c for c in validation.checks if not c.success],
        "memory_limit": memory_limit,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ntm-bench-validate-"))
    m = measure(workdir, args.rows)
    print(f"hand-written DuckDB SQL: {m['base_s']:.1f} s, peak RSS {m['base_peak'] / 1024**2:,.0f} MB")
    print(
        f"ntm validate (GE):       {m['ntm_s']:.1f} s, peak RSS {m['ntm_peak'] / 1024**2:,.0f} MB  "
        f"({m['checks']} expectations, passed={m['passed']}, {len(m['failed'])} failed)"
    )
    for check in m["failed"]:
        print(f"  failed: {check.severity} {check.expectation} on {check.column}: {check.observed}")
    print(
        f"time ratio GE/SQL: {m['ntm_s'] / m['base_s']:.2f}x (target <= 3x); peak memory "
        f"{m['ntm_peak'] / 1024**3:.2f} GB (target < 2 GB; DuckDB memory_limit {m['memory_limit']})"
    )
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
