"""The joints between the stages: a file's whole life, hostile drop zones, vocabularies shared by
Python and dbt (issue: one bad file never stops anyone)."""
from __future__ import annotations

import csv

from ingest.store import LEDGER_STATUSES, STATUS_SEED


def test_ledger_statuses_seed_is_written_from_python():
    """dbt's list of statuses is the seed written from ingest.store.LEDGER_STATUSES, and agrees with it."""
    with open(STATUS_SEED, encoding="utf-8") as f:
        seeded = [(r["status"], r["is_current"] == "true", r["meaning_vi"], r["meaning_en"]) for r in csv.DictReader(f)]
    assert seeded == list(LEDGER_STATUSES), "run `uv run ntm units export-seeds` to write the seed again"
