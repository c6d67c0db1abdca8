"""The validation gate: run each mart's Great Expectations suite and decide what may be published.

Suites are YAML files in `expectations/suites/`, one per mart, plus `common.yaml` (every mart) and
`ntm_core/personal_data.yaml` (every text column of every mart). A failed `critical` expectation blocks
that mart only; a failed `warning` is reported and published with the data. A mart without a
suite is blocked: nothing reaches the portal unchecked. GE runs on DuckDB over the Parquet files
(see gx_duckdb.py), so memory stays bounded however large a mart grows.

Each entry is compiled once into a planned expectation (suite.Planned), which either engine runs:
Great Expectations, with its Data Docs (`ntm validate`), or the same checks as DuckDB SQL
(sql_checks.py; `ntm run`), which spares a run the seconds GE takes to start.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expectations.gx_duckdb import parquet_sql
from expectations.suite import SUITES_DIR, Planned, SuiteInputs, compile_entry, suite_entries, to_gx
from ntm_core.fingerprints import mart_fingerprint, read_fingerprint, unchanged, write_fingerprint
from ntm_core.log import log
from ntm_core.personal import named_like_personal_data
from ntm_core.published import previous_publish
from ntm_core.settings import DBT_MARTS


@dataclass
class Check:
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: Any = None
    unexpected_sample: list = field(default_factory=list)


@dataclass
class MartValidation:
    mart: str
    checks: list[Check]
    report_path: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.failed_critical

    @property
    def failed_critical(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == "critical"]

    @property
    def failed_warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity != "critical"]


@dataclass
class ValidationResult:
    run_id: str
    marts: dict[str, MartValidation] = field(default_factory=dict)
    docs: Path | None = None  # the Data Docs index of this run
    unchanged: list[str] = field(default_factory=list)  # passed before, same content and suite: not read again

    @property
    def publishable(self) -> list[str]:
        return [m for m, v in self.marts.items() if v.passed]

    @property
    def blocked(self) -> list[str]:
        return [m for m, v in self.marts.items() if not v.passed]


def _columns(parquet: Path) -> tuple[list[str], list[str]]:
    """(all column names, the text ones) from the Parquet footer, as DuckDB reads it (no pyarrow
    import on the validation's path)."""
    import duckdb

    with duckdb.connect() as con:
        described = con.execute(f"describe select * from {parquet_sql(parquet)}").fetchall()
    return [name for name, *_ in described], [name for name, kind, *_ in described if kind == "VARCHAR"]


def _unexpected_rows_sample(query: str, parquet: Path) -> list:
    """The first offending rows of a failed unexpected_rows check: GE returns them only with the
    COMPLETE result format, which would also return every unexpected value of every other check."""
    import duckdb

    from expectations.sql_checks import batch_query

    with duckdb.connect() as con:
        rows = con.execute(f"select * from ({batch_query(query, parquet)}) limit 10").fetchall()
    return [row[0] if len(row) == 1 else " | ".join(map(str, row)) for row in rows]


def _check(kind: str, kwargs: dict, meta: dict, success: bool, observed: Any, sample: list, parquet: Path) -> Check:
    """A check's report line, whichever engine ran it."""
    check = Check(
        expectation=meta.get("suite_type", kind) + (f": {meta['description']}" if meta.get("description") else ""),
        column=(meta.get("column") or kwargs.get("column") or ",".join(kwargs.get("column_list", []) or []) or None),
        severity=meta.get("severity", "critical"),
        success=success,
        observed=observed,
        unexpected_sample=[_plain(v) for v in sample[:10]],
    )
    failed_normally = not success and not (isinstance(observed, str) and observed.startswith("error: "))
    if failed_normally and kwargs.get("unexpected_rows_query"):
        check.unexpected_sample = [_plain(v) for v in _unexpected_rows_sample(kwargs["unexpected_rows_query"], parquet)]
    return check


def _checks(outcome, parquet: Path) -> list[Check]:
    """The checks of a GE checkpoint's result."""
    checks = []
    for r in outcome.results:
        cfg, res = r.expectation_config, r.result or {}
        error = _exception_message(r.exception_info)
        success, observed = bool(r.success), res.get("observed_value", res.get("unexpected_count"))
        if error:
            success, observed = False, f"error: {error}"
        sample = res.get("partial_unexpected_list") or []
        checks.append(_check(cfg.type, cfg.kwargs, cfg.meta or {}, success, observed, sample, parquet))
    return checks


def _exception_message(info: dict | None) -> str | None:
    """GE reports an error either flat or keyed by the metric that raised it."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info["raised_exception"] else None
    return next(
        (v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")), None
    )


@dataclass
class MartPlan:
    """What a mart is checked against: the checks decided before reading it (no suite, personal
    column names, an entry that does not compile) and the planned expectations."""

    checks: list[Check]
    planned: list[Planned]
    has_suite: bool = True


def plan_mart(mart: str, parquet: Path, references: dict[str, Path], data_dir: Path) -> MartPlan:
    columns, text_columns = _columns(parquet)
    entries = suite_entries(mart, text_columns)
    if entries is None:
        missing = Check("suite_exists", None, "critical", False, f"no suite at expectations/suites/{mart}.yaml")
        return MartPlan([missing], [], has_suite=False)
    checks = [
        Check("no_personal_data_columns", column, "critical", False, "the column name says it holds personal data")
        for column in named_like_personal_data(columns)
    ]
    previous = previous_publish(data_dir, mart)
    inputs = SuiteInputs(mart, references, previous["rows"] if previous else None)
    planned = []
    for entry in entries:
        try:
            planned += compile_entry(entry, inputs)
        except ValueError as error:
            checks.append(
                Check(entry["type"], entry.get("column"), entry.get("severity", "critical"), False, str(error))
            )
    return MartPlan(checks, planned)


class MartValidator:
    """One GE context per validation run: a DuckDB datasource that reads the marts' Parquet files,
    a suite and a checkpoint per mart, and the Data Docs site built from all of them."""

    def __init__(self, references: dict[str, Path], data_dir: Path, docs_dir: Path):
        import great_expectations as gx

        from expectations.gx_duckdb import context_with_duckdb

        self.gx, self.references, self.data_dir = gx, references, data_dir
        self.context, self.datasource = context_with_duckdb()
        self.context.add_data_docs_site(
            site_name="ntm",
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            },
        )
        self.docs_index = docs_dir / "index.html"

    def validate(self, mart: str, parquet: Path) -> MartValidation:
        plan = plan_mart(mart, parquet, self.references, self.data_dir)
        if not plan.has_suite:
            return MartValidation(mart, plan.checks)
        return MartValidation(mart, plan.checks + self.run(mart, parquet, plan.planned))

    def run(self, mart: str, parquet: Path, planned: list[Planned]) -> list[Check]:
        from great_expectations.checkpoint import UpdateDataDocsAction

        gx, checks = self.gx, []
        suite = self.context.suites.add(gx.ExpectationSuite(name=mart))
        for p in planned:
            try:
                suite.add_expectation(to_gx(p))
            except ValueError as error:  # GE refuses its arguments (e.g. an unpaired brace in a query)
                checks.append(_check(p.type, p.kwargs, p.meta, False, str(error), [], parquet))
        asset = self.datasource.add_query_asset(mart, query=f"select * from {parquet_sql(parquet)}")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=mart, data=asset.add_batch_definition_whole_table("all"), suite=suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"publish_gate_{mart}",
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs", site_names=["ntm"])],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},
            )
        )
        outcome = next(iter(checkpoint.run().run_results.values()))
        return checks + _checks(outcome, parquet)


class SqlMartValidator:
    """The same plans run as DuckDB SQL (sql_checks.py): no GE import, no Data Docs. A mart whose
    suite uses an expectation type the SQL engine does not know is handed to GE."""

    docs_index = None

    def __init__(self, references: dict[str, Path], data_dir: Path, docs_dir: Path):
        from expectations import sql_checks

        self.sql, self.references, self.data_dir, self.docs_dir = sql_checks, references, data_dir, docs_dir
        self.con, self.gx = sql_checks.connect(), None

    def validate(self, mart: str, parquet: Path) -> MartValidation:
        plan = plan_mart(mart, parquet, self.references, self.data_dir)
        if not plan.has_suite:
            return MartValidation(mart, plan.checks)
        if not self.sql.supported(plan.planned):
            log(f"validate: {mart}: its suite has an expectation the SQL engine does not run; by Great Expectations")
            self.gx = self.gx or MartValidator(self.references, self.data_dir, self.docs_dir)
            self.docs_index = self.gx.docs_index
            return MartValidation(mart, plan.checks + self.gx.run(mart, parquet, plan.planned))
        outcomes = self.sql.run(plan.planned, parquet, self.con)
        checks = [
            _check(p.type, p.kwargs, p.meta, o.success, o.observed, o.sample, parquet)
            for p, o in zip(plan.planned, outcomes, strict=True)
        ]
        return MartValidation(mart, plan.checks + checks)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def passed_report(data_dir: Path, mart: str) -> Path | None:
    """The mart's latest validation report when it passed (publishing may go ahead), else None."""
    report = data_dir / "validation" / "latest" / f"{mart}.json"
    if report.exists() and json.loads(report.read_text(encoding="utf-8"))["passed"]:
        return report
    return None


def suite_rules(mart: str) -> list[Path]:
    """The files a mart is judged by: its suite, the common suite, its dbt YAML (see suite.py)."""
    personal = SUITES_DIR.parent.parent / "ntm_core" / "personal_data.yaml"
    return [SUITES_DIR / f"{mart}.yaml", SUITES_DIR.parent / "common.yaml", DBT_MARTS / f"{mart}.yml", personal]


def _fingerprint_path(data_dir: Path, mart: str) -> Path:
    return data_dir / "validation" / "fingerprints" / f"{mart}.json"


def validate_marts(
    marts: dict[str, Path], data_dir: Path, run_id: str, changed_only: bool = False, docs: bool = True
) -> ValidationResult:
    """Validate each mart's Parquet file; store results as JSON per run and as the latest per mart.
    With `docs`, Great Expectations runs the suites and builds the Data Docs site of the run
    (`validation/<run>/docs/index.html`); without, the same planned checks run as DuckDB SQL
    (sql_checks.py: the same results, no GE start-up). With `changed_only`, a mart that passed
    before with the same content and suite is not read again."""
    result = ValidationResult(run_id=run_id)
    fingerprints = {}
    for mart, parquet in sorted(marts.items()):
        before = read_fingerprint(_fingerprint_path(data_dir, mart))
        fingerprints[mart] = mart_fingerprint(parquet, suite_rules(mart), before)
        if changed_only and unchanged(fingerprints[mart], before) and passed_report(data_dir, mart):
            result.unchanged.append(mart)
    if result.unchanged:
        log(f"validate: unchanged since they passed, not read again: {', '.join(result.unchanged)}")
    marts = {m: p for m, p in marts.items() if m not in result.unchanged}
    if not marts:
        return result  # nothing to read: no Great Expectations context either
    run_dir = data_dir / "validation" / run_id
    latest_dir = data_dir / "validation" / "latest"
    run_dir.mkdir(parents=True, exist_ok=True)
    latest_dir.mkdir(parents=True, exist_ok=True)
    # Referential checks may point at marts not validated in this call (the dims, usually).
    references = {p.stem: p for p in sorted((data_dir / "marts").glob("*.parquet"))} | marts
    validator = (MartValidator if docs else SqlMartValidator)(references, data_dir, run_dir / "docs")
    for number, (mart, parquet) in enumerate(sorted(marts.items()), start=1):
        log(f"validate: [{number}/{len(marts)}] {mart}")
        validation = validator.validate(mart, parquet)
        validation.report_path = run_dir / f"{mart}.json"
        validation.report_path.write_text(
            json.dumps(
                {
                    "mart": mart,
                    "run_id": run_id,
                    "passed": validation.passed,
                    "validated_at": dt.datetime.now(dt.UTC).isoformat(),
                    "checks": [asdict(c) for c in validation.checks],
                },
                ensure_ascii=False,
                indent=2,
                default=str,
            ),
            encoding="utf-8",
        )
        shutil.copyfile(validation.report_path, latest_dir / f"{mart}.json")
        write_fingerprint(_fingerprint_path(data_dir, mart), fingerprints[mart])
        result.marts[mart] = validation
        _log(validation)
    result.docs = validator.docs_index if validator.docs_index and validator.docs_index.exists() else None
    if result.docs:
        log(f"validate: Data Docs at {result.docs}")
    return result


def _log(v: MartValidation) -> None:
    verdict = "passed" if v.passed else "BLOCKED"
    log(f"validate: {v.mart}: {verdict} ({sum(c.success for c in v.checks)}/{len(v.checks)} expectations met)")
    for c in v.failed_critical + v.failed_warnings:
        log(
            f"validate:   {c.severity.upper()} {c.expectation} on column {c.column or '(table)'}: "
            f"observed {c.observed}" + (f", e.g. {c.unexpected_sample[:3]}" if c.unexpected_sample else "")
        )
