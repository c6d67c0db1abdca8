"""Files departments submitted on the portal (ckanext-ntm's `ntm_submit`), fetched as a source:
each new submission is checked again (the account must still be an editor or admin of the
department's organization), copied into <dropzone>/<department>/<dataset>/, and, once ingest has
read it, its fate (the ledger's status) is written back on the submission.

The audit (`<data dir>/submissions.jsonl`: who submitted what, when, and its fate) stays with the
ledger; account names are never published (the submissions dataset is private, and no mart reads
the audit)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.contract import all_contracts
from ntm_core.departments import departments
from ntm_core.log import log, shown
from ntm_core.settings import ckan_credentials, source_timeout

CONTAINER = "ntm-nop-{department}"  # the organization's private dataset of submissions (ckanext-ntm)
MEMBER_CAPACITIES = ("editor", "admin")
# A fetched file is complete: dated back so the settle wait lets it through. The run that fetched it
# claims it before the watcher may list it (ntm.tasks.departments_with_new_files, ntm.watch.fetching):
# old at once, it is not announced again.
FETCHED_AGE = 3600


@dataclass
class Submission:
    resource_id: str
    department: str
    dataset: str
    file_name: str
    submitted_by: str
    status: str  # fetched | refused


def _portal():
    import ckanapi

    url, token = ckan_credentials()
    return ckanapi.RemoteCKAN(url, apikey=token), token


def fetch_submissions(dropzone: Path, data_dir: Path, only: list[str] | None = None) -> list[Submission]:
    """New submissions of the registered departments, into their drop folders. A portal that cannot
    be reached is logged and skipped: the drop zone's own files are still ingested."""
    try:
        ckan, token = _portal()
        ckan.action.status_show()
    except Exception as err:
        log(f"submissions: portal not reachable ({type(err).__name__}); none fetched")
        return []
    fetched = []
    # Every department's private submissions dataset in one search (not one call per registered
    # department: 171 of them cost seconds), then the members of only those with a new submission.
    found = ckan.action.package_search(q="name:" + CONTAINER.format(department="*"), include_private=True, rows=1000)
    containers = {p["name"]: p for p in found["results"]}
    for department in departments():
        container = containers.get(CONTAINER.format(department=department))
        if only and department not in only or container is None:
            continue
        submitted = [r for r in container["resources"] if r.get("ntm_status") == "submitted"]
        if not submitted:
            continue
        # member_list translates capacities; organization_show keeps them as codes
        org = ckan.action.organization_show(id=department, include_users=True, include_datasets=False)
        members = {u["id"] for u in org.get("users", []) if u.get("capacity") in MEMBER_CAPACITIES}
        fetched += [_fetch(ckan, token, r, department, members, dropzone, data_dir) for r in submitted]
    return fetched


def _fetch(ckan, token: str, resource: dict, department: str, members: set, dropzone: Path, data_dir: Path):
    import requests

    dataset, name = resource.get("ntm_dataset") or "", Path(resource.get("name") or "submission").name
    submission = Submission(resource["id"], department, dataset, name, resource.get("ntm_submitted_by", ""), "fetched")
    if resource.get("ntm_submitted_by_id") not in members:  # checked again, whatever the portal said
        submission.status = "refused"
        ckan.action.resource_patch(id=resource["id"], ntm_status="refused", ntm_fate="refused: not a member")
        log(f"submissions: {department}: {shown(name)} REFUSED (the account is not an editor of {department})")
    elif dataset not in all_contracts():  # a form field: never a path of its own ('../..')
        submission.status = "refused"
        ckan.action.resource_patch(id=resource["id"], ntm_status="refused", ntm_fate="refused: unknown dataset")
        log(f"submissions: {department}: {shown(name)} REFUSED (dataset '{shown(dataset)}' is not registered)")
    else:
        target = dropzone / department / dataset / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.parent / f".{name}.part"
        with (
            requests.get(
                resource["url"], headers={"Authorization": token}, timeout=source_timeout(), stream=True
            ) as got,
            open(part, "wb") as out,
        ):
            got.raise_for_status()
            for chunk in got.iter_content(chunk_size=1 << 20):  # streamed: a submission may be 100 MB
                out.write(chunk)
        part.rename(target)
        old = target.stat().st_mtime - FETCHED_AGE
        os.utime(target, (old, old))
        ckan.action.resource_patch(id=resource["id"], ntm_status="fetched")
        log(f"submissions: {department}/{shown(dataset)}: {shown(name)} fetched")
    _audit(data_dir, {**submission.__dict__, "submitted_at": resource.get("created"), "fetched_at": _now()})
    return submission


def record_fates(data_dir: Path, ledger_entries: list[dict]) -> int:
    """Write each fetched submission's fate (the ledger's status for its file) back on it."""
    audit = _read_audit(data_dir)
    waiting = [a for a in audit if a["status"] == "fetched" and not a.get("fate")]
    if not waiting:
        return 0
    ckan, _ = _portal()
    written = 0
    for entry in waiting:
        fate = next(
            (
                e["status"]
                for e in reversed(ledger_entries)
                if (e["department"], e["dataset"], e["file_name"])
                == (entry["department"], entry["dataset"], entry["file_name"])
            ),
            None,
        )
        if fate:
            ckan.action.resource_patch(id=entry["resource_id"], ntm_fate=fate)
            _audit(data_dir, {**entry, "fate": fate, "fate_at": _now()})
            written += 1
    return written


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _audit(data_dir: Path, record: dict) -> None:
    with open(data_dir / "submissions.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_audit(data_dir: Path) -> list[dict]:
    """The latest record of each submission."""
    path = data_dir / "submissions.jsonl"
    latest: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            latest[record["resource_id"]] = record
    return list(latest.values())
