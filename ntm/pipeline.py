"""The four stages as plain functions: the CLI, the Airflow DAGs and the tests all call these."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ntm_core.log import log
from ntm_core.settings import data_dir as resolve_data_dir
from ntm_core.settings import dropzone_dir


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def ingest(
    dropzone: Path | None = None,
    data_dir: Path | None = None,
    run_id: str | None = None,
    departments: list[str] | None = None,
):
    from ingest.run import ingest_dropzone
    from ingest.sources import fetch_sources
    from ingest.submissions import fetch_submissions, record_fates

    dropzone, data_dir = dropzone_dir(dropzone), resolve_data_dir(data_dir)
    fetch_sources(dropzone, departments)  # departments that publish at a URL
    submitted = fetch_submissions(dropzone, data_dir, departments)  # files sent on the portal
    result = ingest_dropzone(dropzone, data_dir, run_id or new_run_id(), departments)
    if submitted:
        record_fates(data_dir, [f.__dict__ for f in result.files])
    log(f"ingest: {result.summary()}")
    return result


def transform(
    data_dir: Path | None = None, select: str | None = None, full_refresh: bool = False, changed_only: bool = False
):
    """dbt build: everything, the models `select`ed, or with `changed_only` what the sources changed
    since the last build feed (nothing when nothing changed)."""
    from ntm.transform import transform as run_transform

    return run_transform(resolve_data_dir(data_dir), select, full_refresh, changed_only=changed_only)


def transform_on_spark(data_dir: Path | None = None, data_tests: bool = True):
    """The same dbt project on Spark (docs/spark.md): every mart under marts_spark/, beside DuckDB's."""
    from ntm.spark_build import build_on_spark

    return build_on_spark(resolve_data_dir(data_dir), data_tests)


def backfill(
    start,
    end,
    dropzone: Path | None = None,
    data_dir: Path | None = None,
    run_id: str | None = None,
    departments: list[str] | None = None,
):
    """Read again the files received in [start, end) with today's contracts (see ingest/backfill.py)."""
    from ingest.backfill import reingest_received

    result = reingest_received(
        dropzone_dir(dropzone), resolve_data_dir(data_dir), run_id or new_run_id(), start, end, departments
    )
    log(f"backfill: {result.summary()}")
    return result


def scorecard(
    name: str,
    data_dir: Path | None = None,
    province: str | None = None,
    year: int | None = None,
    criteria_set: str | None = None,
):
    from ntm.scorecard import find_scorecards

    return find_scorecards(name, resolve_data_dir(data_dir), province, year, criteria_set)


def freshness(data_dir: Path | None = None, as_of: dt.date | None = None, reminders: Path | None = None):
    """Each department × dataset's freshness on `as_of` (today), and the reminder lists of the late ones
    (in `reminders`, default <data dir>/reminders)."""
    from ntm.freshness import freshness as build_freshness
    from ntm.freshness import write_reminders

    data_dir = resolve_data_dir(data_dir)
    rows = build_freshness(data_dir, as_of)
    written = write_reminders(rows, reminders or data_dir / "reminders")
    log(f"freshness: {len(rows)} department datasets; {len(written) // 2} departments reminded")
    return rows, written


def iceberg(data_dir: Path | None = None, catalog_uri: str | None = None):
    """The lake's tables (bronze, records, marts) written as Iceberg tables (see ntm/iceberg.py)."""
    from ntm.iceberg import write_lake_tables

    tables = write_lake_tables(resolve_data_dir(data_dir), catalog_uri)
    log(f"iceberg: {len(tables)} tables, {sum(t.rows for t in tables):,} rows")
    return tables


def current_marts(data_dir: Path | None = None) -> dict[str, Path]:
    marts_dir = resolve_data_dir(data_dir) / "marts"
    return {p.stem: p for p in sorted(marts_dir.glob("*.parquet"))}


def validate(
    data_dir: Path | None = None,
    run_id: str | None = None,
    marts: dict[str, Path] | None = None,
    changed_only: bool = False,
    docs: bool = True,
):
    """The suites on the marts (all, or those given); with `changed_only`, not on a mart that passed
    before with the same content and suite. With `docs`, by Great Expectations with its Data Docs;
    without, the same checks as DuckDB SQL (no GE start-up: expectations/sql_checks.py)."""
    from expectations.validate import validate_marts

    data_dir = resolve_data_dir(data_dir)
    marts = marts if marts is not None else current_marts(data_dir)
    return validate_marts(marts, data_dir, run_id or new_run_id(), changed_only, docs)


def publish(
    data_dir: Path | None = None,
    marts: list[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    maps: bool = False,
):
    """Publish the marts whose latest validation passed (all of them, or those named), and with
    `maps` the maps of publish/maps.yaml."""
    from expectations.validate import passed_report
    from publish.client import connect
    from publish.run import publish_map_files, publish_marts

    data_dir = resolve_data_dir(data_dir)
    publishable, reports = {}, {}
    for mart, parquet in current_marts(data_dir).items():
        if marts is not None and mart not in marts:
            continue
        if (report := passed_report(data_dir, mart)) is None:
            log(f"publish: {mart}: held back (its latest validation did not pass; see {data_dir}/validation/latest)")
            continue
        publishable[mart], reports[mart] = parquet, report
    ckan = connect(url, token)  # one session for the marts and the maps
    result = publish_marts(publishable, reports, data_dir, ckan=ckan)
    return publish_map_files(result, ckan=ckan) if maps else result


@dataclass
class RunResult:
    run_id: str
    ingest: object
    transform: object
    validation: object
    publish: object | None
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall-clock seconds, in order


class _Stopwatch:
    """Wall-clock seconds of each stage of a run, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, work):
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.seconds[stage] = time.perf_counter() - started


def run_all(dropzone: Path | None = None, data_dir: Path | None = None, data_docs: bool = False) -> RunResult:
    """The four stages; with `data_docs`, Great Expectations validates and builds its Data Docs."""
    run_id, timed = new_run_id(), _Stopwatch()
    data_dir = resolve_data_dir(data_dir)
    ingested = timed("ingest", lambda: ingest(dropzone, data_dir, run_id))
    # Each stage does only its file's work: dbt builds what the changed sources feed, validation and
    # publishing skip the marts whose content did not change (without reading them again).
    transformed = timed("transform", lambda: transform(data_dir, changed_only=True))
    if not transformed.success:
        return RunResult(run_id, ingested, transformed, None, None, timed.seconds)
    # By default the checks run as DuckDB SQL: a small file does not wait seconds for GE to start.
    validated = timed("validate", lambda: validate(data_dir, run_id, changed_only=True, docs=data_docs))
    published = timed("publish", lambda: publish(data_dir, maps=True))
    return RunResult(run_id, ingested, transformed, validated, published, timed.seconds)
