"""The joints between the stages: a file's whole life, hostile drop zones, vocabularies shared by
Python and dbt (issue: one bad file never stops anyone)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb

from helpers import drop
from ingest.run import ingest_dropzone
from ingest.store import LEDGER_STATUSES, STATUS_SEED


def test_ledger_statuses_seed_is_written_from_python():
    """dbt's list of statuses is the seed written from ingest.store.LEDGER_STATUSES, and agrees with it."""
    with open(STATUS_SEED, encoding="utf-8") as f:
        seeded = [(r["status"], r["is_current"] == "true", r["meaning_vi"], r["meaning_en"]) for r in csv.DictReader(f)]
    assert seeded == list(LEDGER_STATUSES), "run `uv run ntm units export-seeds` to write the seed again"


def _bronze(data_dir: Path, dataset: str, columns: str) -> list[tuple]:
    return duckdb.sql(f"select {columns} from read_parquet('{data_dir}/bronze/{dataset}/*.parquet', "
                      "union_by_name=true) order by all").fetchall()


def _problems(dropzone: Path, department: str, dataset: str, name: str) -> list[dict]:
    path = dropzone / department / "_reports" / dataset / f"{name}.report.json"
    return json.loads(path.read_text(encoding="utf-8"))["problems"]


DI_HEADER = "Tên đơn vị,Mã ĐVHC,Năm,Tỷ lệ hộ có Internet cáp quang (%),Tỷ lệ hộ có điện thoại thông minh (%)\n"


def test_a_province_row_lands_at_province_level_beside_commune_rows(dropzone, data_dir):
    """The seeds' province figures (83,66 % fixed broadband in Đồng Tháp) land as a province row."""
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", name="tinh.csv", content=(
        DI_HEADER + 'Tỉnh Đồng Tháp,87,2023,"83,66","90,76"\nThị trấn Mỹ Thọ,30076,2023,"70,5","88"\n').encode())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "landed", outcome.reason
    assert _bronze(data_dir, "digital_infrastructure",
                   "unit_code, unit_level, fixed_broadband_household_pct, smartphone_household_pct") == [
        ("30076", "commune", 70.5, 88.0), ("87", "province", 83.66, 90.76)]


def test_codes_and_names_resolve_within_the_departments_province(dropzone, data_dir):
    """A Sơn La department cannot land Đồng Tháp's units, by code (with its right name) or by name."""
    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", name="other.csv", content=(
        DI_HEADER + 'Thị trấn Mỹ Thọ,30076,2023,"70,5","88"\nXã Bình Hàng Trung,,2023,"60","80"\n'
        'Tỉnh Đồng Tháp,87,2023,"83,66","90,76"\nXã Chiềng Xôm,03664,2023,"46,32","96,36"\n').encode())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "partly_landed"
    assert _bronze(data_dir, "digital_infrastructure", "unit_code") == [("03664",)]
    problems = _problems(dropzone, "so-khcn-son-la", "digital_infrastructure", "other.csv")
    assert [p["row"] for p in problems] == [2, 3, 4]
    for problem in problems:
        assert "is not in Sơn La, the department's province" in problem["en"]
        assert "không thuộc Sơn La" in problem["vi"] and "Đồng Tháp" in problem["en"]


def test_a_folder_that_is_not_a_registered_department_lands_nothing(dropzone, data_dir):
    drop(dropzone, "so-la", "digital_infrastructure", name="a.csv", content=(
        DI_HEADER + 'Xã Chiềng Xôm,03664,2023,"46,32","96,36"\n').encode())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and "'so-la' is not a registered department" in outcome.reason
    assert _bronze(data_dir, "digital_infrastructure", "unit_code") == []
    assert _problems(dropzone, "so-la", "digital_infrastructure", "a.csv")[0]["fix_vi"]


def test_a_killed_bulk_ingest_leaves_nothing_that_breaks_the_next_run(dropzone, data_dir):
    """`kill -9` (for real, in a child process) while the bulk path writes bronze: no half file is
    left under a name readers glob, and the next run removes the leftovers and lands the file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # 100,000 rows over 10 keys (a commune has the odd years, the other the even): the repeated-key
    # rewrite runs too.
    rows = [f"{'03664' if i % 2 else '03658'};Xã Chiềng {'Xôm' if i % 2 else 'Cọ'};{2015 + i % 10};{i % 100},5"
            for i in range(100_000)]
    drop(dropzone, "so-khcn-son-la", "digital_infrastructure", name="big.csv", content=(
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n" + "\n".join(rows)).encode())
    env = {**os.environ, "NTM_BULK_THRESHOLD_MB": "0", "NTM_DATA_DIR": str(data_dir)}
    child = subprocess.Popen([sys.executable, "-m", "ntm.cli", "ingest", "--dropzone", str(dropzone)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bronze = data_dir / "bronze" / "digital_infrastructure"
    deadline = time.monotonic() + 60
    while not list(bronze.glob("*.part")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    for path in bronze.glob("*.parquet"):  # what dbt's source glob reads: each whole, or absent
        duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()
    [outcome] = ingest_dropzone(dropzone, data_dir, "r2").files
    assert outcome.status == "partly_landed" and outcome.rows_landed == 10
    assert not list(bronze.glob("*.part")) and not list((data_dir / "tmp").iterdir())
