"""The drop zone's watcher: which departments have files that ingest has not looked at, from one
listing of the drop zone, in milliseconds; the Airflow event trigger that raises an asset event as
soon as such a file is stable (`ntm.dropzone_trigger`); and the lock that lets one ingest land files
at a time.

A file is *looked at* once an ingest run has read it, whatever its fate (landed, rejected, the same
bytes again): its name, size, modification and change times are remembered per department in
`<data dir>/dropzone_seen/<department>.json`, written by the run after it read them. A file counts
as looked at too when the ledger has a file of its department, dataset, name and size received after
the file last changed (a data dir from before the watcher). Anything else is new: a new name, new
bytes under an old name (its size or times changed), a file touched or copied again. New does not
mean it lands: the ledger decides (by sha256), so a file read twice is never landed twice.

No file is announced twice, nor one an ingest would find nothing in (#31). While a run's `departments`
task fetches the portal's submissions and the departments' URLs into the drop zone, lists it and
*claims* the files it hands to the ingests (`<department>.claimed.json`, cleared by the ingest that
reads them), it holds the fetch lock, and the watcher skips its listings meanwhile: a fetched file (its
time back-dated, so stable at once) is claimed before the watcher can see it, and a file a run has
taken on is not announced again while its ingest waits for the pool. Bytes the ledger already holds
for the department and dataset under the same name (a file written again with the same content) are
not new either: the ingest would land and note nothing (a copy under another name is read: it is
noted once as a duplicate). They are remembered as looked at by the next
run's `departments` task (the watcher itself writes nothing).

Only the standard library at the top (importing Airflow configures it, which only the DAGs and the
triggerer should do); the ingest stage is imported where it is used."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ntm_core.fingerprints import unchanged_since

SEEN_FOLDER = "dropzone_seen"
LOCK_FILE = "ingest.lock"
FETCH_LOCK_FILE = "fetch.lock"
# A claim no ingest cleared (its run failed for good) lapses after the hourly poll's interval: the
# watcher may announce the file again; the poll's own run ignores claims anyway.
CLAIM_SECONDS = 3600
# The drop zone's asset: the watcher's events and the portal's (a submission accepted, through
# Airflow's REST API) both name departments in it; `ntm portal up` passes it to the portal.
DROPZONE_URI = "ntm://dropzone/files"
DEPARTMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")

# (department, dataset, entry name) -> (size, mtime_ns, ctime_ns): fingerprints.unchanged_since
Key = tuple[str, str, str]
Stat = tuple[int, int, int]


def _visible(name: str) -> bool:
    return not name.startswith(("_", "."))


def _entries(folder: str) -> Iterator[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            yield from (e for e in it if _visible(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return


def listing(dropzone: Path, department: str | None = None) -> dict[Key, Stat]:
    """Every entry laid out as <department>/<dataset>/<entry>, with its size and times: the same
    entries `ingest.run.discover` reads (a department folder that is a link is skipped, as ingest
    skips it; a dataset folder that is a link is one entry of its own)."""
    found: dict[Key, Stat] = {}
    for dept in _entries(str(dropzone)):
        if department and dept.name != department or not dept.is_dir(follow_symlinks=False):
            continue
        for ds in _entries(dept.path):
            if ds.is_symlink():
                st = ds.stat(follow_symlinks=False)
                found[dept.name, ds.name, ""] = unchanged_since(st)
            elif ds.is_dir():
                for entry in _entries(ds.path):
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:  # removed while listed
                        continue
                    found[dept.name, ds.name, entry.name] = unchanged_since(st)
    return found


def _seen_path(data_dir: Path, department: str) -> Path:
    return data_dir / SEEN_FOLDER / f"{department}.json"


def looked_at(data_dir: Path, departments: Iterable[str]) -> dict[Key, Stat]:
    seen: dict[Key, Stat] = {}
    for department in departments:
        try:
            rows = json.loads(_seen_path(data_dir, department).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            continue
        seen.update({(department, ds, name): tuple(stat) for ds, name, *stat in rows})
    return seen


def _in_ledger(data_dir: Path, unseen: dict[Key, Stat]) -> set[Key]:
    """Of the unseen files, those the ledger received after they last changed (same name and size)."""
    ledger = data_dir / "ledger.parquet"
    if not unseen or not ledger.exists():
        return set()
    import pyarrow.parquet as pq

    table = pq.read_table(ledger, columns=["department", "dataset", "file_name", "size_bytes", "received_at"])
    received: dict[tuple, int] = {}
    for row in table.to_pylist():
        key = (row["department"], row["dataset"], row["file_name"], row["size_bytes"])
        at = int(row["received_at"].timestamp() * 1e9)
        received[key] = max(received.get(key, 0), at)
    return {key for key, (size, mtime, ctime) in unseen.items() if received.get((*key, size), 0) >= max(mtime, ctime)}


def unseen_files(dropzone: Path, data_dir: Path, settle_seconds: float = 0.0) -> dict[Key, Stat]:
    """The entries of the drop zone no ingest has looked at; with `settle_seconds`, only those not
    modified for that long (a file still being copied is left for the next look)."""
    now = time.time_ns()
    files = listing(dropzone)
    seen = looked_at(data_dir, {k[0] for k in files})
    unseen = {k: v for k, v in files.items() if seen.get(k) != v}
    for key in _in_ledger(data_dir, unseen):
        del unseen[key]
    return {k: v for k, v in unseen.items() if now - v[1] >= settle_seconds * 1e9}


# (department, dataset, entry name, size, mtime_ns, ctime_ns) -> sha256: the watcher hashes a file
# the ledger may hold once, not on every listing.
_HASHES: dict[tuple, str | None] = {}


def _sha256(dropzone: Path, key: Key, stat: Stat) -> str | None:
    cached = (*key, *stat)
    if cached not in _HASHES:
        if len(_HASHES) > 10_000:
            _HASHES.clear()
        path = dropzone.joinpath(*key)
        digest = hashlib.sha256()
        try:
            if path.is_symlink() or not path.is_file():
                raise OSError("not a regular file")  # ingest rejects it by name, not by its bytes
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            _HASHES[cached] = digest.hexdigest()
        except OSError:
            _HASHES[cached] = None
    return _HASHES[cached]


def ledger_holds(dropzone: Path, data_dir: Path, files: dict[Key, Stat]) -> set[Key]:
    """Of `files`, those whose bytes the ledger already holds for their department and dataset under
    the same name: ingest would find them unchanged, landing and noting nothing. (A copy under another
    name is not held: ingest notes it once as a duplicate, so the department sees it.) Only a file
    whose size the ledger knows there is read."""
    ledger = data_dir / "ledger.parquet"
    if not files or not ledger.exists():
        return set()
    import pyarrow.parquet as pq

    try:
        columns = ["department", "dataset", "file_name", "sha256", "size_bytes"]
        rows = pq.read_table(ledger, columns=columns).to_pylist()
    except (OSError, ValueError):  # being replaced right now: nothing is held, ask again later
        return set()
    held_bytes = {(r["department"], r["dataset"], r["file_name"], r["sha256"]) for r in rows}
    sizes = {(r["department"], r["dataset"], r["file_name"], r["size_bytes"]) for r in rows}
    return {
        key
        for key, stat in files.items()
        if (*key, stat[0]) in sizes and (*key, _sha256(dropzone, key, stat)) in held_bytes
    }


def new_files(dropzone: Path, data_dir: Path, settle_seconds: float = 0.0, keep: Iterable[Key] = ()) -> dict[Key, Stat]:
    """The files an ingest would find something in: not looked at, stable for `settle_seconds`, and
    bytes the ledger does not hold for their department and dataset (except the `keep` ones: a
    submission fetched again must get its fate, even if it is the same bytes)."""
    return without_held(dropzone, data_dir, unseen_files(dropzone, data_dir, settle_seconds), keep)


def without_held(dropzone: Path, data_dir: Path, unseen: dict[Key, Stat], keep: Iterable[Key] = ()) -> dict[Key, Stat]:
    keep = set(keep)
    held = ledger_holds(dropzone, data_dir, {k: v for k, v in unseen.items() if k not in keep})
    return {k: v for k, v in unseen.items() if k not in held}


def departments_with_new_files(dropzone: Path, data_dir: Path) -> list[str]:
    return sorted({department for department, _, _ in new_files(dropzone, data_dir)})


# ---------------------------------------------------------------- claims: a run took these files on


def _claims_path(data_dir: Path, department: str) -> Path:
    return data_dir / SEEN_FOLDER / f"{department}.claimed.json"


def _write_json(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".json.part")
    part.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    part.replace(path)


def _read_claims(data_dir: Path, department: str) -> list[list]:
    try:
        return json.loads(_claims_path(data_dir, department).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []


def claim(data_dir: Path, files: dict[Key, Stat]) -> None:
    """The files a run's ingests will read (its `departments` task, under the fetch lock): the watcher
    does not announce them while they wait. By size and modification time (a rename changes the
    change time, not the file)."""
    now = time.time_ns()
    for department in {k[0] for k in files}:
        taken = {(ds, name) for (dept, ds, name) in files if dept == department}
        rows = [r for r in _read_claims(data_dir, department) if (r[0], r[1]) not in taken]
        rows += [[ds, name, stat[0], stat[1], now] for (dept, ds, name), stat in files.items() if dept == department]
        _write_json(_claims_path(data_dir, department), sorted(rows))


def claimed(data_dir: Path, departments: Iterable[str]) -> dict[Key, tuple[int, int]]:
    """The files runs have taken on and no ingest has read yet: key -> (size, mtime_ns)."""
    fresh_since = time.time_ns() - CLAIM_SECONDS * 1_000_000_000
    return {
        (department, ds, name): (size, mtime)
        for department in departments
        for ds, name, size, mtime, at in _read_claims(data_dir, department)
        if at >= fresh_since
    }


@contextlib.contextmanager
def fetching(data_dir: Path) -> Iterator[None]:
    """Held by a run's `departments` task from its first fetch to its claims: the watcher lists
    nothing meanwhile (a file fetched but not yet claimed would be announced a second time)."""
    with _exclusive(data_dir / FETCH_LOCK_FILE):
        yield


def to_announce(dropzone: Path, data_dir: Path, settle_seconds: float) -> dict[Key, Stat] | None:
    """What the watcher announces: the new files no run has claimed. None while a run fetches and
    claims (the fetch lock is held): the watcher looks again a moment later."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / FETCH_LOCK_FILE, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            found = new_files(dropzone, data_dir, settle_seconds)
            taken = claimed(data_dir, {k[0] for k in found})
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return {k: stat for k, stat in found.items() if taken.get(k) != stat[:2]}


def named_departments(extras: Iterable[dict | None]) -> list[str] | None:
    """The departments the asset events that triggered a run name: the watcher's (`{"payload":
    {"departments": [...]}}`) and the portal's through the REST API (`{"departments": [...]}`).
    None when there is no event, or one names no department (a manual event, say): then every
    department's submissions and URLs are fetched, as on the hourly poll. A name that is no
    department folder's (`../x`, not text) is ignored; the listing decides who runs anyway."""
    named: set[str] = set()
    extras = list(extras)
    for extra in extras:
        extra = extra or {}
        payload = extra.get("payload") if isinstance(extra.get("payload"), dict) else {}
        departments = extra.get("departments", payload.get("departments"))
        if not isinstance(departments, list) or not departments:
            return None
        named.update(d for d in departments if isinstance(d, str) and DEPARTMENT_NAME.fullmatch(d))
    return sorted(named) if named else None


def remember(data_dir: Path, department: str, before: dict[Key, Stat], outcomes: Iterable[Any]) -> None:
    """After an ingest of `department` that began with the listing `before`: every entry it read is
    looked at, except those it left for later (`not_ready`: still being written)."""
    later = {(o.dataset, o.file_name) for o in outcomes if o.status == "not_ready"}
    rows = sorted(
        [ds, name, *stat] for (dept, ds, name), stat in before.items() if dept == department and (ds, name) not in later
    )
    _write_json(_seen_path(data_dir, department), rows)
    # Its claims end here: what it read is looked at, what it left for later is the watcher's again.
    read = {(ds, name) for (dept, ds, name) in before if dept == department}
    left = [r for r in _read_claims(data_dir, department) if (r[0], r[1]) not in read]
    _write_json(_claims_path(data_dir, department), left)


def mark_looked_at(data_dir: Path, files: dict[Key, Stat]) -> None:
    """Files no ingest needs to read (the ledger holds their bytes), added to their departments'
    looked-at lists (under the landing lock, as `remember` writes them)."""
    for department in {k[0] for k in files}:
        rows = {(ds, name): stat for (_, ds, name), stat in looked_at(data_dir, [department]).items()}
        rows.update({(ds, name): stat for (dept, ds, name), stat in files.items() if dept == department})
        _write_json(_seen_path(data_dir, department), sorted([ds, name, *stat] for (ds, name), stat in rows.items()))


@contextlib.contextmanager
def landing_lock(data_dir: Path) -> Iterator[None]:
    """One ingest (or backfill) at a time on a data dir, whichever process or thread runs it: a second
    one waits for the first to end, then finds its files in the ledger. (DuckDB's own lock on the
    ledger makes a second process fail at once instead, and does not hold between threads.)"""
    with _exclusive(data_dir / LOCK_FILE):
        yield


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """An exclusive lock on a file of the data dir, between processes and threads (flock)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def dropzone_paths(dropzone: str | None, data_dir: str | None) -> tuple[Path, Path]:
    """The drop zone and data dir: as given, else the Airflow Variables the tasks read, else the
    pipeline's settings."""
    from ntm_core.settings import data_dir as resolve_data_dir
    from ntm_core.settings import dropzone_dir

    try:
        from airflow.sdk import Variable

        dropzone = dropzone or Variable.get("ntm_dropzone", default=None)
        data_dir = data_dir or Variable.get("ntm_data_dir", default=None)
    except Exception:  # noqa: BLE001 - no Airflow context: the settings decide
        pass
    return dropzone_dir(dropzone), resolve_data_dir(data_dir)
