"""The validation gate: run each mart's Great Expectations suite and decide what may be published.

Suites are YAML files in `expectations/suites/`, one per mart. A failed `critical` expectation
blocks that mart only; a failed `warning` is reported and published with the data. A mart
without a suite is blocked: nothing reaches the portal unchecked.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntm.config import log

SUITES_DIR = Path(__file__).resolve().parent / "suites"


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
    passed: bool
    checks: list[Check]
    report_path: Path | None = None

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

    @property
    def publishable(self) -> list[str]:
        return [m for m, v in self.marts.items() if v.passed]

    @property
    def blocked(self) -> list[str]:
        return [m for m, v in self.marts.items() if not v.passed]


def load_suite(mart: str) -> dict | None:
    path = SUITES_DIR / f"{mart}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def _render(kwargs: dict) -> dict:
    year = dt.date.today().year
    return {k: (int(v.format(current_year=year)) if isinstance(v, str) and "{current_year}" in v else v)
            for k, v in kwargs.items()}


def _expectation(spec: dict):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in spec["type"].split("_"))
    cls = getattr(gx.expectations, class_name)
    return cls(**_render(spec.get("kwargs", {})), meta={"severity": spec.get("severity", "critical")})


def validate_frame(mart: str, frame, suite_spec: dict) -> MartValidation:
    """Run a suite on a pandas DataFrame with Great Expectations' pandas datasource."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (context.data_sources.add_pandas(f"ds_{mart}")
                        .add_dataframe_asset(mart).add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite(name=mart))
    for spec in suite_spec["expectations"]:
        suite.add_expectation(_expectation(spec))
    outcome = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format="SUMMARY")
    checks = []
    for r in outcome.results:
        cfg = r.expectation_config
        kwargs = cfg.kwargs
        res = r.result or {}
        checks.append(Check(
            expectation=cfg.type,
            column=kwargs.get("column") or ",".join(kwargs.get("column_list", []) or []) or None,
            severity=(cfg.meta or {}).get("severity", "critical"),
            success=bool(r.success),
            observed=res.get("observed_value", res.get("unexpected_count")),
            unexpected_sample=[_plain(v) for v in (res.get("partial_unexpected_list") or [])[:10]],
        ))
        if r.exception_info and r.exception_info.get("raised_exception"):
            checks[-1].success = False
            checks[-1].observed = r.exception_info.get("exception_message")
    passed = not any(not c.success and c.severity == "critical" for c in checks)
    return MartValidation(mart=mart, passed=passed, checks=checks)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def validate_marts(marts: dict[str, Path], data_dir: Path, run_id: str) -> ValidationResult:
    """Validate each mart's Parquet file; store results as JSON per run and as the latest per mart."""
    import pandas as pd

    result = ValidationResult(run_id=run_id)
    run_dir = data_dir / "validation" / run_id
    latest_dir = data_dir / "validation" / "latest"
    run_dir.mkdir(parents=True, exist_ok=True)
    latest_dir.mkdir(parents=True, exist_ok=True)
    for mart, parquet in sorted(marts.items()):
        suite_spec = load_suite(mart)
        if suite_spec is None:
            validation = MartValidation(mart, False, [Check("suite_exists", None, "critical", False,
                                                            f"no suite at expectations/suites/{mart}.yaml")])
        else:
            validation = validate_frame(mart, pd.read_parquet(parquet), suite_spec)
        validation.report_path = run_dir / f"{mart}.json"
        validation.report_path.write_text(json.dumps(
            {"mart": mart, "run_id": run_id, "passed": validation.passed,
             "validated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
             "checks": [asdict(c) for c in validation.checks]}, ensure_ascii=False, indent=2, default=str),
            encoding="utf-8")
        shutil.copyfile(validation.report_path, latest_dir / f"{mart}.json")
        result.marts[mart] = validation
        _log(validation)
    return result


def _log(v: MartValidation) -> None:
    verdict = "passed" if v.passed else "BLOCKED"
    log(f"validate: {v.mart}: {verdict} ({sum(c.success for c in v.checks)}/{len(v.checks)} expectations met)")
    for c in v.failed_critical + v.failed_warnings:
        log(f"validate:   {c.severity.upper()} {c.expectation} on column {c.column or '(table)'}: "
            f"observed {c.observed}" + (f", e.g. {c.unexpected_sample[:3]}" if c.unexpected_sample else ""))
