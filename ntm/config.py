"""Paths and settings shared by every stage. Environment variables override the defaults."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where the lakehouse keeps its files: raw bytes, bronze Parquet, the DuckDB warehouse, marts."""
    return Path(os.environ.get("NTM_DATA_DIR", REPO_ROOT / "data")).resolve()


def dropzone_dir() -> Path:
    return Path(os.environ.get("NTM_DROPZONE", REPO_ROOT / "samples" / "dropzone")).resolve()


def log(message: str) -> None:
    """Progress lines go to stderr so stdout stays for results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
