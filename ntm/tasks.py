"""What the Airflow tasks call: one stage each, returning a small JSON-able summary for XCom and the
task log. A task fails with the reason when a department's file was rejected or a mart was held
back, and is skipped when it found nothing new (so it emits no asset event). A poll where some
files landed and others were rejected succeeds (its rows are announced) and the rejection fails
the check that follows it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path

from ntm import pipeline
from ntm_core.log import log
from ntm_core.settings import data_dir as resolve_data_dir
from ntm_core.settings import dropzone_dir


def _fail(message: str):
    # No retry can fix a bad file or a failed expectation: fail the task at once.
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def _skip(message: str):
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(message)


def _label_mapped_task(label: str) -> None:
    """Mapped tasks show `label` instead of their index in the Airflow UI (map_index_template)."""
    try:
        from airflow.sdk import get_current_context

        get_current_context()["map_label"] = label
    except Exception:  # outside a running task
        pass


def list_departments(dropzone: str | None = None) -> list[str]:
    root = dropzone_dir(dropzone)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def triggering_extras(triggering_asset_events) -> list[dict]:
    """The `extra` of every asset event that triggered the run (Airflow's `triggering_asset_events`:
    asset -> events); none for a run of the hourly poll or one triggered by hand."""
    if not triggering_asset_events:
        return []
    return [dict(getattr(e, "extra", None) or {}) for events in triggering_asset_events.values() for e in events]


def departments_with_new_files(
    dropzone: str | None = None, data_dir: str | None = None, event_extras: list[dict] | None = None
) -> list[str]:
    """The departments an ingest run reads: those with a file an ingest would find something in. The
    files sent on the portal and those at a department's URL are fetched first into the drop zone:
    those of the departments the triggering events name (a submission's event names its department),
    else of every department (the hourly poll); then one listing of the drop zone decides
    (ntm/watch.py): a department with nothing new gets no task at all, so it costs nothing and holds
    no pool slot. The files handed to the ingests are claimed, under the fetch lock, so the watcher
    does not announce them again (which would start a run that finds nothing); bytes the ledger holds
    are remembered as looked at, unread."""
    from ingest.sources import fetch_sources
    from ingest.submissions import fetch_submissions
    from ntm import watch

    root, data = dropzone_dir(dropzone), resolve_data_dir(data_dir)
    named = watch.named_departments(event_extras or [])
    if named:
        log(f"named by the triggering events: {', '.join(named)}")
    with watch.fetching(data):
        fetch_sources(root, only=named)
        submitted = fetch_submissions(root, data, only=named)
        fetched = [(s.department, s.dataset, s.file_name) for s in submitted if s.status == "fetched"]
        # Not only the settled files: one written a moment ago is usually settled when the ingest
        # reads it (else it is left `not_ready`, its claim ended, and the watcher announces it).
        unseen = watch.unseen_files(root, data)
        new = watch.without_held(root, data, unseen, keep=fetched)
        watch.claim(data, new)
    held = {k: v for k, v in unseen.items() if k not in new}
    if held:
        with watch.landing_lock(data):
            watch.mark_looked_at(data, held)
        log(f"files whose bytes the ledger holds (not read again): {len(held)}")
    found = sorted({department for department, _, _ in new})
    log(f"departments with new files: {', '.join(found) or 'none'}")
    return found


def _rejections_message(rejected: list[dict]) -> str:
    from ingest.safety import shown_name

    return "; ".join(
        f"{shown_name(f['department'])}/{shown_name(f['dataset'])}/{shown_name(f['file_name'])} rejected: "
        f"{f['reason']} (report: {f['report']})"
        for f in rejected
    )


def _files_summary(department: str | None, result) -> dict:
    """The files a task read. Rows that landed are kept and announced even when another file of the
    same poll was rejected: the rejection fails the next task (`check_rejections`), not this one.
    With nothing landed, a rejection fails this task; with nothing at all, it is skipped."""
    summary = {
        "department": department,
        "files": [asdict(f) for f in result.files],
        "rejected": [asdict(f) for f in result.rejected],
    }
    if not result.landed:
        if summary["rejected"]:
            _fail(_rejections_message(summary["rejected"]))
        _skip(f"{department or 'backfill'}: no new files ({result.summary()})")
    return summary


def check_rejections(summary: dict) -> None:
    """Fail, naming every rejected file and its report, when files were rejected beside ones that
    landed; so the failure alert reaches a person while the landed rows go on to publishing."""
    _label_mapped_task(summary.get("department") or "backfill")
    if summary["rejected"]:
        _fail(_rejections_message(summary["rejected"]))


def ingest_department(
    department: str, dropzone: str | None = None, data_dir: str | None = None, run_id: str | None = None
) -> dict:
    """One department's new files (fetched by `departments_with_new_files`), one ingest at a time on the
    data dir (`landing_lock`): the files it read are remembered as looked at."""
    from ingest.run import ingest_dropzone
    from ingest.submissions import record_fates
    from ntm.watch import landing_lock, listing, remember

    _label_mapped_task(department)
    root, data = dropzone_dir(dropzone), resolve_data_dir(data_dir)
    with landing_lock(data):
        before = listing(root, department)
        result = ingest_dropzone(root, data, run_id or pipeline.new_run_id(), [department])
        try:  # the fates of submissions fetched into the drop zone, written back on the portal
            record_fates(data, [asdict(f) for f in result.files])
        except Exception as err:  # noqa: BLE001 - the portal gone: the fates are written by a later run
            log(f"submissions: fates not written ({type(err).__name__})")
        remember(data, department, before, result.files)
    log(f"ingest: {department}: {result.summary()}")
    return _files_summary(department, result)


def backfill(
    start: dt.datetime,
    end: dt.datetime,
    dropzone: str | None = None,
    data_dir: str | None = None,
    run_id: str | None = None,
    run_type: str = "backfill",
) -> dict:
    if run_type.lower().endswith("scheduled"):
        # Airflow runs backfills only for unpaused DAGs; the daily runs themselves have nothing to do.
        _skip("scheduled run: nothing to re-read (use `airflow backfill create --dag-id ntm_backfill ...`)")
    from ntm.watch import landing_lock

    with landing_lock(resolve_data_dir(data_dir)):
        result = pipeline.backfill(start, end, dropzone and Path(dropzone), data_dir and Path(data_dir), run_id)
    return _files_summary(None, result)


def transform(data_dir: str | None = None, full_refresh: bool = False) -> dict:
    # A full refresh rebuilds everything; otherwise only what the changed sources feed.
    result = pipeline.transform(resolve_data_dir(data_dir), full_refresh=full_refresh, changed_only=not full_refresh)
    if not result.success:
        _fail("dbt build failed: " + "; ".join(result.failures))
    return {"marts": sorted(result.marts), "plan": result.plan}


def validate(data_dir: str | None = None, run_id: str | None = None) -> dict:
    # As `ntm run`: the suites' checks as DuckDB SQL, no GE start-up per run (`ntm validate` runs GE
    # itself and builds its Data Docs).
    result = pipeline.validate(resolve_data_dir(data_dir), run_id, changed_only=True, docs=False)
    return {
        "publishable": result.publishable,
        "unchanged": result.unchanged,
        "blocked": {
            m: [f"{c.expectation} on {c.column}: observed {c.observed}" for c in result.marts[m].failed_critical]
            for m in result.blocked
        },
        "data_docs": str(result.docs) if result.docs else None,
    }


def publish(validation: dict, data_dir: str | None = None, url: str | None = None, token: str | None = None) -> dict:
    # Every mart whose latest validation passed; those the portal already shows are skipped unread.
    result = pipeline.publish(resolve_data_dir(data_dir), url=url, token=token, maps=True)
    summary = {
        "published": [asdict(d) for d in result.datasets],
        "blocked": validation["blocked"],
        "refused": result.refused,
    }
    if validation["blocked"] or result.refused:
        _fail(
            "published "
            + ", ".join(d.name for d in result.datasets)
            + "; held back by validation: "
            + "; ".join(f"{m}: {', '.join(r)}" for m, r in validation["blocked"].items())
            + "".join(f"; refused: {why}" for why in result.refused.values())
        )
    return summary


def on_failure(context, data_dir: str | None = None) -> None:
    """Airflow failure callback: one line a person can act on (which DAG, task, department and why),
    in the task log and appended to `<data_dir>/alerts/failures.jsonl` for whoever watches it."""
    ti = context.get("ti") or context.get("task_instance")
    label = context.get("map_label") or getattr(ti, "rendered_map_index", None)
    task = f"{ti.task_id}[{label}]" if label else ti.task_id
    reason = str(context.get("exception") or "see the task log")
    alert = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "dag": ti.dag_id,
        "run": ti.run_id,
        "task": task,
        "department": label,
        "try": getattr(ti, "try_number", None),
        "reason": reason,
    }
    log(f"FAILED {ti.dag_id}.{task} (run {ti.run_id}): {reason}")
    path = resolve_data_dir(data_dir) / "alerts" / "failures.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(alert, ensure_ascii=False) + "\n")


def freshness(data_dir: str | None = None) -> dict:
    """Today's freshness of every department × dataset, and the reminder lists of the late ones."""
    rows, written = pipeline.freshness(Path(data_dir) if data_dir else None)
    late = sorted({f"{r['department']}/{r['dataset']}: {r['status']}" for r in rows if r["status"] != "fresh"})
    return {"datasets": len(rows), "late": late, "reminders": [str(p) for p in written]}


def iceberg(data_dir: str | None = None) -> dict:
    """The lake's tables as Iceberg tables (catalog from NTM_ICEBERG_CATALOG_URI, else SQLite)."""
    tables = pipeline.iceberg(Path(data_dir) if data_dir else None)
    return {"tables": {t.identifier: t.rows for t in tables}}
