"""Which dbt models a build needs: everything when the dbt project changed (or nothing was built
yet), else only the models downstream of the sources whose files changed since the last build, and
the models tagged `today` on a new day. Nothing at all when nothing changed.

The state of the last build is `<data dir>/build_state.json`: a fingerprint of the dbt project, one
per source (its files' names, sizes and modification times: no file is read), and the day the
`today` models were built for."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ntm_core.fingerprints import content_digest
from ntm_core.settings import DBT_PROJECT

# What a parse of the project reads (ntm.transform keys its saved parse by it too).
PROJECT_PARTS = (
    *("models", "macros", "seeds", "tests", "snapshots", "analyses"),
    *("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml"),
)
STATE_FILE = "build_state.json"


@dataclass
class BuildPlan:
    full: bool  # build everything
    select: list[str] = field(default_factory=list)  # dbt selectors when not full; empty: nothing to do
    why: str = ""
    state: dict = field(default_factory=dict)  # what to record once the build succeeded

    @property
    def nothing(self) -> bool:
        return not self.full and not self.select


def _files_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def project_fingerprint() -> str:
    """The dbt project's code and seeds, by content (a checkout changes modification times)."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        root = DBT_PROJECT / part
        for path in sorted([root] if root.is_file() else root.rglob("*") if root.exists() else []):
            if path.is_file():
                digest.update(str(path.relative_to(DBT_PROJECT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def source_fingerprints(data_dir: Path) -> dict[str, str]:
    """dbt source -> fingerprint: `bronze.<dataset>` by its files, `lakehouse.ledger` by its rows
    (ingest rewrites the file on every run)."""
    found = {
        f"bronze.{folder.name}": _files_digest(folder.glob("*.parquet"))
        for folder in sorted((data_dir / "bronze").glob("*"))
        if folder.is_dir()
    }
    ledger = data_dir / "ledger.parquet"
    found["lakehouse.ledger"] = content_digest(ledger) if ledger.exists() else ""
    return found


def selector(source: str) -> str:
    """What a changed source makes stale. A dataset's models read the ledger only for that dataset's
    files, whose landing also changes its bronze folder; so the ledger alone makes stale only the
    models tagged `ledger`, which read it for itself (freshness)."""
    return "tag:ledger" if source == "lakehouse.ledger" else f"source:{source}+"


def previous_state(data_dir: Path) -> dict:
    path = data_dir / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def plan_build(data_dir: Path, today: dt.date | None = None) -> BuildPlan:
    today = today or dt.date.today()
    state = {
        # The warehouse's views name the data dir's files: a moved or copied data dir is built anew.
        "data_dir": str(data_dir.resolve()),
        "project": project_fingerprint(),
        "sources": source_fingerprints(data_dir),
        "today_models_for": today.isoformat(),
    }
    before = previous_state(data_dir)
    if not (data_dir / "warehouse.duckdb").exists() or not before:
        return BuildPlan(True, why="nothing built yet", state=state)
    if before.get("project") != state["project"]:
        return BuildPlan(True, why="the dbt project changed", state=state)
    if before.get("data_dir") != state["data_dir"]:
        return BuildPlan(True, why="the data dir moved", state=state)
    changed = [s for s, digest in state["sources"].items() if before.get("sources", {}).get(s) != digest]
    select = [selector(s) for s in changed]
    if before.get("today_models_for") != state["today_models_for"]:
        select.append("tag:today+")
    why = "sources changed: " + ", ".join(changed) if changed else "a new day" if select else "nothing changed"
    return BuildPlan(False, select, why, state)


def record_build(data_dir: Path, state: dict) -> None:
    """After a successful build of everything, or of what a plan selected: its sources are up to date."""
    (data_dir / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def mark_frozen(data_dir: Path, day: str) -> None:
    """A build for a frozen day (dbt var `as_of`): the next planned build rebuilds the `today` models."""
    if state := previous_state(data_dir):
        record_build(data_dir, {**state, "today_models_for": f"frozen {day}"})
