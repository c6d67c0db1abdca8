"""A mart's fingerprint, to tell whether it changed since it was last validated or published
without reading it again when its file was not rewritten: the file's size and modification time,
its content (row count and an order-free hash of its rows, by DuckDB, read only when the file was
rewritten) and the rules it was judged by (the files of its suite or its portal metadata)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def unchanged_since(status) -> tuple[int, int, int]:
    """What tells that a file was not written since it was looked at: its size and its modification
    and change times (any write changes the change time, which no tool sets back). The drop-zone
    watcher (ntm.watch) and ingest's ledger (ingest.store) both go by it."""
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns


def _stat(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def rules_digest(rules: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in rules:
        digest.update(str(path.name).encode() + b"\0" + (path.read_bytes() if path.exists() else b"-") + b"\0")
    return digest.hexdigest()


def content_digest(parquet: Path) -> str:
    import duckdb

    with duckdb.connect() as con:
        rows, rows_hash = con.execute(f"select count(*), bit_xor(hash(t)) from read_parquet('{parquet}') t").fetchone()
    return f"{rows}:{rows_hash}"


def mart_fingerprint(parquet: Path, rules: list[Path], previous: dict | None = None) -> dict:
    """{"stat", "content", "rules"}; the content is taken from `previous` when the file's stat is the same."""
    stat = _stat(parquet)
    same_file = bool(previous) and previous.get("stat") == stat and previous.get("content")
    return {
        "stat": stat,
        "content": previous["content"] if same_file else content_digest(parquet),
        "rules": rules_digest(rules),
    }


def unchanged(fingerprint: dict, previous: dict | None) -> bool:
    return bool(previous) and all(fingerprint[k] == previous.get(k) for k in ("content", "rules"))


def read_fingerprint(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_fingerprint(path: Path, fingerprint: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fingerprint), encoding="utf-8")
