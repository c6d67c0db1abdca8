"""What was last published of each mart (its row count, where, its content's fingerprint): the
publish stage writes it and reads it to skip a mart the portal already shows; validation reads the
row count as the baseline for the row-count-change check. Kept at
`<data dir>/validation/published/<mart>.json`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def _path(data_dir: Path, mart: str) -> Path:
    return data_dir / "validation" / "published" / f"{mart}.json"


def previous_publish(data_dir: Path, mart: str) -> dict | None:
    path = _path(data_dir, mart)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def record_publish(data_dir: Path, mart: str, rows: int, run_id: str | None = None, **published) -> None:
    """The row count the next validation compares against, and what the publish stage needs to know
    the portal already shows this content (`published`: portal, name, digest, resources, fingerprint)."""
    path = _path(data_dir, mart)
    path.parent.mkdir(parents=True, exist_ok=True)
    published_at = dt.datetime.now(dt.UTC).isoformat()
    record = {"mart": mart, "rows": rows, "run_id": run_id, "published_at": published_at, **published}
    path.write_text(json.dumps(record), encoding="utf-8")
