"""Paths and settings shared by every stage. Environment variables override the defaults."""
from __future__ import annotations

import logging
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


def _in_airflow_task() -> bool:
    return "AIRFLOW_CTX_DAG_ID" in os.environ  # set by Airflow's task runner


def log(message: str) -> None:
    """Progress lines go to stderr so stdout stays for results; inside an Airflow task they go to
    the task log at INFO level (Airflow files everything written to stderr as an error)."""
    if _in_airflow_task():
        logging.getLogger("ntm").info(message)
    else:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
