"""The transform stage: one `dbt build` over the dbt project, marts written as Parquet.

DuckDB allows one writer per database file, so dbt always runs as a single process here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ntm.config import REPO_ROOT, log

DBT_PROJECT = REPO_ROOT / "dbt_project"


@dataclass
class TransformResult:
    success: bool
    marts: dict[str, Path] = field(default_factory=dict)   # mart name -> Parquet file
    failures: list[str] = field(default_factory=list)


def run_dbt(args: list[str], data_dir: Path) -> "dbt.cli.main.dbtRunnerResult":  # noqa: F821
    from dbt.cli.main import dbtRunner

    os.environ["NTM_DATA_DIR"] = str(data_dir)
    (data_dir / "marts").mkdir(parents=True, exist_ok=True)
    return dbtRunner().invoke([*args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
                               "--target-path", str(data_dir / "dbt_target"), "--log-path", str(data_dir / "logs")])


def transform(data_dir: Path, select: str | None = None, full_refresh: bool = False) -> TransformResult:
    """`dbt build`; with `full_refresh`, seeds and incremental models are rebuilt from scratch."""
    log("transform: dbt build" + (" --full-refresh" if full_refresh else ""))
    res = run_dbt(["build", "--quiet", *(["--select", select] if select else []),
                   *(["--full-refresh"] if full_refresh else [])], data_dir)
    result = TransformResult(success=bool(res.success))
    for node_result in getattr(res.result, "results", None) or []:
        node = node_result.node
        status = str(node_result.status)
        if status in ("error", "fail"):
            result.failures.append(f"{node.resource_type} {node.name}: {node_result.message}")
        elif node.resource_type == "model" and node.fqn[1:2] == ["marts"]:
            result.marts[node.name] = data_dir / "marts" / f"{node.name}.parquet"
    if res.exception:
        result.failures.append(str(res.exception))
    log(f"transform: {'ok' if result.success else 'FAILED'}; marts: {', '.join(result.marts) or 'none'}")
    for failure in result.failures:
        log(f"transform: {failure}")
    return result
