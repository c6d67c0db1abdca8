"""Progress lines for people: stderr from the command line, the task log under Airflow."""

from __future__ import annotations

import logging
import sys
import time

from ntm_core.settings import in_airflow_task


def log(message: str) -> None:
    """Progress lines go to stderr so stdout stays for results; inside an Airflow task they go to
    the task log at INFO level (Airflow files everything written to stderr as an error)."""
    if in_airflow_task():
        logging.getLogger("ntm").info(message)
    else:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
