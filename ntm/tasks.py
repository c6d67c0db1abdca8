"""What the Airflow tasks call: one stage each, returning a small JSON-able summary for XCom and the
task log, and failing the task with the reason when a department's file was rejected."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ntm import pipeline
from ntm.config import data_dir as default_data_dir
from ntm.config import dropzone_dir


class StageFailed(Exception):
    """A stage ended with something a person has to fix; the message says what."""


def _fail(message: str):
    # No retry can fix a bad file or a failed expectation: fail the task at once.
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # pragma: no cover - outside Airflow
        raise StageFailed(message) from None
    raise AirflowFailException(message)


def list_departments(dropzone: str | None = None) -> list[str]:
    root = Path(dropzone or dropzone_dir())
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def ingest_department(department: str, dropzone: str | None = None, data_dir: str | None = None,
                      run_id: str | None = None) -> dict:
    result = pipeline.ingest(Path(dropzone or dropzone_dir()), Path(data_dir or default_data_dir()), run_id,
                             departments=[department])
    summary = {"department": department, "files": [asdict(f) for f in result.files]}
    rejected = result.rejected
    if rejected:
        _fail("; ".join(f"{department}/{f.dataset}/{f.file_name} rejected: {f.reason} (report: {f.report})"
                        for f in rejected))
    return summary


def transform(data_dir: str | None = None) -> dict:
    result = pipeline.transform(Path(data_dir or default_data_dir()))
    if not result.success:
        _fail("dbt build failed: " + "; ".join(result.failures))
    return {"marts": sorted(result.marts)}


def validate(data_dir: str | None = None, run_id: str | None = None) -> dict:
    result = pipeline.validate(Path(data_dir or default_data_dir()), run_id)
    return {
        "publishable": result.publishable,
        "blocked": {m: [f"{c.expectation} on {c.column}: observed {c.observed}" for c in result.marts[m].failed_critical]
                    for m in result.blocked},
    }


def publish(validation: dict, data_dir: str | None = None, url: str | None = None, token: str | None = None) -> dict:
    result = pipeline.publish(Path(data_dir or default_data_dir()), marts=validation["publishable"], url=url,
                              token=token)
    summary = {"published": [asdict(d) for d in result.datasets], "blocked": validation["blocked"]}
    if validation["blocked"]:
        _fail("published " + ", ".join(d.name for d in result.datasets) + "; held back by validation: "
              + "; ".join(f"{m}: {', '.join(r)}" for m, r in validation["blocked"].items()))
    return summary
