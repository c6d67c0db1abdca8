"""Freshness on a frozen clock: each department × dataset judged with OCHA HDX's thresholds
(seed freshness_thresholds) from the ledger, and a reminder list per late department."""

from __future__ import annotations

import csv
import datetime as dt
import json

import duckdb
from helpers import REPO, drop, sample

from ingest.run import ingest_dropzone
from ntm import cli

SEEDS = REPO / "dbt_project" / "seeds" / "program"


def test_a_yearly_file_grows_due_overdue_then_delinquent_and_the_late_get_reminders(dropzone, data_dir, capsys):
    # The communes' People's Committees are expected to send one dataset, yearly (ingest/departments.yaml).
    drop(dropzone, "ubnd-xa-dong-thap", "satisfaction_surveys", sample("ubnd-xa-dong-thap", "satisfaction_surveys"))
    ingest_dropzone(dropzone, data_dir, "r1")
    received = duckdb.sql(f"select max(received_at)::date from '{data_dir}/ledger.parquet'").fetchone()[0]
    thresholds = {r["frequency"]: r for r in csv.DictReader(open(SEEDS / "freshness_thresholds.csv"))}
    yearly = thresholds["yearly"]
    assert (yearly["due_after_days"], yearly["overdue_after_days"], yearly["delinquent_after_days"]) == (
        "365",
        "425",
        "455",
    )

    def status_after(days: int) -> dict:
        day = received + dt.timedelta(days=days)
        assert cli.main(["--data-dir", str(data_dir), "freshness", "--as-of", day.isoformat(), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out.split("\n  reminder:")[0])
        return {(r["department"], r["dataset"]): r for r in rows}

    key = ("ubnd-xa-dong-thap", "satisfaction_surveys")
    assert status_after(100)[key]["status"] == "fresh"
    assert status_after(400)[key]["status"] == "due"  # HDX: due from 365 days, overdue from 425
    assert status_after(430)[key]["status"] == "overdue"
    late = status_after(460)
    assert late[key]["status"] == "delinquent" and late[key]["age_days"] == 460
    # A dataset the program expects and never received is delinquent, and says so.
    never = late[("vp-ntm-tay-ninh", "commune_criteria")]
    assert never["status"] == "delinquent" and never["never_received"] and never["age_days"] is None
    reminder = list(csv.DictReader(open(data_dir / "reminders" / "ubnd-xa-dong-thap.csv", encoding="utf-8-sig")))
    assert [(r["dataset"], r["status"], r["age_days"]) for r in reminder] == [
        ("satisfaction_surveys", "delinquent", "460")
    ]
    page = (data_dir / "reminders" / "ubnd-xa-dong-thap.html").read_text(encoding="utf-8")
    assert "quá hạn lâu / delinquent" in page and "satisfaction_surveys" in page
    # The next day it is judged on, a department that caught up has no reminder left.
    status_after(100)
    assert not (data_dir / "reminders" / "ubnd-xa-dong-thap.csv").exists()


def test_the_last_received_time_is_utc_whatever_the_machines_zone(sample_build, tmp_path):
    # The mart's `timestamp` says "(UTC)": a cast from the ledger's instant would follow DuckDB's
    # session zone, which is the machine's. Built in a process of its own, in Vietnam's zone.
    import os
    import subprocess
    import sys

    from helpers import copy_build

    _, data_dir = copy_build(sample_build, tmp_path)
    env = {**os.environ, "TZ": "Asia/Ho_Chi_Minh"}
    args = [sys.executable, "-m", "ntm.cli", "--data-dir", str(data_dir), "transform"]
    subprocess.run([*args, "--select", "fact_dataset_freshness"], env=env, check=True, cwd=REPO)
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Ho_Chi_Minh'")  # the reader's zone must not matter either
    mart = data_dir / "marts" / "fact_dataset_freshness.parquet"
    shown = con.sql(f"select department, dataset, last_received from '{mart}' where files_received > 0").fetchall()
    ledger = f"'{data_dir / 'ledger.parquet'}'"
    utc = set(con.sql(f"select department, dataset, timezone('UTC', received_at) from {ledger}").fetchall())
    local = set(con.sql(f"select department, dataset, cast(received_at as timestamp) from {ledger}").fetchall())
    assert len(shown) > 5 and set(shown) <= utc and not set(shown) & local
