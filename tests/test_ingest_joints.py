"""The joints between the stages: a file's whole life, hostile drop zones, vocabularies shared by
Python and dbt (issue: one bad file never stops anyone)."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC
from pathlib import Path

import duckdb
import pytest
from helpers import drop

from ingest.run import ingest_dropzone
from ingest.store import LEDGER_STATUSES, STATUS_SEED


def test_ledger_statuses_seed_is_written_from_python():
    """dbt's list of statuses is the seed written from ingest.store.LEDGER_STATUSES, and agrees with it."""
    with open(STATUS_SEED, encoding="utf-8") as f:
        seeded = [(r["status"], r["is_current"] == "true", r["meaning_vi"], r["meaning_en"]) for r in csv.DictReader(f)]
    assert seeded == list(LEDGER_STATUSES), "run `uv run ntm units export-seeds` to write the seed again"


def _bronze(data_dir: Path, dataset: str, columns: str) -> list[tuple]:
    return duckdb.sql(
        f"select {columns} from read_parquet('{data_dir}/bronze/{dataset}/*.parquet', union_by_name=true) order by all"
    ).fetchall()


def _problems(dropzone: Path, department: str, dataset: str, name: str) -> list[dict]:
    path = dropzone / department / "_reports" / dataset / f"{name}.report.json"
    return json.loads(path.read_text(encoding="utf-8"))["problems"]


DI_HEADER = "Tên đơn vị,Mã ĐVHC,Năm,Tỷ lệ hộ có Internet cáp quang (%),Tỷ lệ hộ có điện thoại thông minh (%)\n"


def test_a_province_row_lands_at_province_level_beside_commune_rows(dropzone, data_dir):
    """The seeds' province figures (83,66 % fixed broadband in Đồng Tháp) land as a province row."""
    drop(
        dropzone,
        "so-khcn-dong-thap",
        "digital_infrastructure",
        name="tinh.csv",
        content=(
            DI_HEADER + 'Tỉnh Đồng Tháp,87,2023,"83,66","90,76"\nThị trấn Mỹ Thọ,30076,2023,"70,5","88"\n'
        ).encode(),
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "landed", outcome.reason
    assert _bronze(
        data_dir,
        "digital_infrastructure",
        "unit_code, unit_level, fixed_broadband_household_pct, smartphone_household_pct",
    ) == [("30076", "commune", 70.5, 88.0), ("87", "province", 83.66, 90.76)]


def test_codes_and_names_resolve_within_the_departments_province(dropzone, data_dir):
    """A Sơn La department cannot land Đồng Tháp's units, by code (with its right name) or by name."""
    drop(
        dropzone,
        "so-khcn-son-la",
        "digital_infrastructure",
        name="other.csv",
        content=(
            DI_HEADER + 'Thị trấn Mỹ Thọ,30076,2023,"70,5","88"\nXã Bình Hàng Trung,,2023,"60","80"\n'
            'Tỉnh Đồng Tháp,87,2023,"83,66","90,76"\nXã Chiềng Xôm,03664,2023,"46,32","96,36"\n'
        ).encode(),
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "partly_landed"
    assert _bronze(data_dir, "digital_infrastructure", "unit_code") == [("03664",)]
    problems = _problems(dropzone, "so-khcn-son-la", "digital_infrastructure", "other.csv")
    assert [p["row"] for p in problems] == [2, 3, 4]
    for problem in problems:
        assert "is not in Sơn La, the department's province" in problem["en"]
        assert "không thuộc Sơn La" in problem["vi"] and "Đồng Tháp" in problem["en"]


def test_a_folder_that_is_not_a_registered_department_lands_nothing(dropzone, data_dir):
    drop(
        dropzone,
        "so-la",
        "digital_infrastructure",
        name="a.csv",
        content=(DI_HEADER + 'Xã Chiềng Xôm,03664,2023,"46,32","96,36"\n').encode(),
    )
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
    rows = [
        f"{'03664' if i % 2 else '03658'};Xã Chiềng {'Xôm' if i % 2 else 'Cọ'};{2015 + i % 10};{i % 100},5"
        for i in range(100_000)
    ]
    drop(
        dropzone,
        "so-khcn-son-la",
        "digital_infrastructure",
        name="big.csv",
        content=("Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n" + "\n".join(rows)).encode(),
    )
    env = {**os.environ, "NTM_BULK_THRESHOLD_MB": "0", "NTM_DATA_DIR": str(data_dir)}
    child = subprocess.Popen(
        [sys.executable, "-m", "ntm.cli", "ingest", "--dropzone", str(dropzone)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def test_a_drop_zone_of_every_hostile_file_beside_the_samples_is_read_whole_and_twice_changes_nothing(
    tmp_path, data_dir
):
    """`ntm ingest` on the samples plus every case of the messy corpus: each file gets its fate, the
    run ends, the ledger is exported; a second run changes nothing."""
    import shutil
    import subprocess
    import sys

    from helpers import SAMPLES
    from test_ingest_corpus import CASES, PARTLY

    dropzone = tmp_path / "dz"
    shutil.copytree(SAMPLES, dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):
        os.utime(path, (path.stat().st_mtime - 60,) * 2)
    for case, (name, content, *_) in {**CASES, **PARTLY}.items():
        drop(
            dropzone,
            "so-khcn-dong-thap",
            "online_public_services",
            content=content,
            name=name if len(f"{case}-{name}".encode()) > 255 else f"{case}-{name}",
        )
    drop(dropzone, "khong-dang-ky", "digital_infrastructure", name="a.csv", content=b"x;y\n1;2\n")

    def ingest() -> str:
        run = subprocess.run(
            [sys.executable, "-m", "ntm.cli", "ingest", "--dropzone", str(dropzone)],
            env={**os.environ, "NTM_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        return run.stdout

    first = ingest()
    ledger = duckdb.sql(
        f"select department, file_name, status from '{data_dir}/ledger.parquet' order by all"
    ).fetchall()
    files = [p for p in dropzone.rglob("*") if p.is_file() and "_reports" not in p.parts]
    assert len({(d, f) for d, f, _ in ledger}) == len(files)  # every file has its fate in the exported ledger
    assert ("khong-dang-ky", "a.csv", "rejected") in ledger
    assert {s for *_, s in ledger} <= {"landed", "partly_landed", "rejected", "duplicate"}
    second = ingest()
    assert (
        duckdb.sql(f"select department, file_name, status from '{data_dir}/ledger.parquet' order by all").fetchall()
        == ledger
    )

    def fates(printed: str) -> list[str]:
        return [
            line.split()[0]
            for line in printed.splitlines()
            if line.startswith("  ") and line.split()[0] not in ("reason:", "report:")
        ]

    assert len(fates(first)) == len(files) and "landed" in fates(first)
    assert len(fates(second)) == len(files) and set(fates(second)) <= {"unchanged", "duplicate"}, second


@pytest.mark.portal
def test_one_files_whole_life_from_drop_zone_to_datastore(ckan, dropzone, data_dir, prefix):
    """Landed; dropped again (unchanged); a second office's file for the same period (both count);
    corrected (supersedes the first file, not the second office's); backfilled; each time
    transformed, validated and published, with the ledger, the mart and the portal's DataStore
    checked."""
    from datetime import datetime, timedelta

    from ntm import pipeline

    mart = "fact_digital_infrastructure"
    rows = 'Tỉnh Đồng Tháp,87,2023,"83,66","90,76"\nThị trấn Mỹ Thọ,30076,2023,"70,5","88"\n'

    def ledger():
        return duckdb.sql(
            f"select file_name, status from '{data_dir}/ledger.parquet' order by received_at, file_name, status"
        ).fetchall()

    def build_and_publish():
        # Built and validated as `ntm run` does: what the changed files feed, the checks as SQL.
        assert pipeline.transform(data_dir, changed_only=True).success
        validated = pipeline.validate(data_dir, changed_only=True, docs=False)
        assert mart in {*validated.publishable, *validated.unchanged}  # passed now, or before as it is
        [published] = pipeline.publish(data_dir, marts=[mart]).datasets
        package = ckan.action.package_show(id=published.name)
        csv_res = next(r for r in package["resources"] if r.get("ntm_kind") == "csv")
        records = ckan.action.datastore_search(resource_id=csv_res["id"], sort="unit_key")["records"]
        built = duckdb.sql(
            f"select unit_level, unit_code, fixed_broadband_household_pct from "
            f"'{data_dir}/marts/{mart}.parquet' order by unit_key"
        ).fetchall()
        assert [(r["unit_level"], r["unit_code"], r["fixed_broadband_household_pct"]) for r in records] == built
        return published.status, built, package

    # 1. Landed: a province row beside a commune row.
    drop(dropzone, "so-khcn-dong-thap", "digital_infrastructure", name="2023.csv", content=(DI_HEADER + rows).encode())
    assert [f.status for f in pipeline.ingest(dropzone, data_dir).files] == ["landed"]
    assert ledger() == [("2023.csv", "landed")]
    status, built, package = build_and_publish()
    assert status == "created" and built == [("commune", "30076", 70.5), ("province", "87", 83.66)]
    assert "cấp tỉnh" in package["spatial_coverage"] and "communes" in package["spatial_coverage_en"]

    # 2. Dropped again: nothing changes, down to the portal.
    assert [f.status for f in pipeline.ingest(dropzone, data_dir).files] == ["unchanged"]
    assert ledger() == [("2023.csv", "landed")]
    assert build_and_publish()[:2] == ("unchanged", built)

    # 3. A second office of the same department, same year: its commune lands beside the first file's rows.
    drop(
        dropzone,
        "so-khcn-dong-thap",
        "digital_infrastructure",
        name="2023-xa.csv",
        content=(DI_HEADER + 'Xã Gáo Giồng,30079,2023,"78,4","89,75"\n').encode(),
    )
    assert sorted((f.file_name, f.status) for f in pipeline.ingest(dropzone, data_dir).files) == [
        ("2023-xa.csv", "landed"),
        ("2023.csv", "unchanged"),
    ]
    assert ledger() == [("2023.csv", "landed"), ("2023-xa.csv", "landed")]
    status, built, _ = build_and_publish()
    assert status == "updated" and built == [
        ("commune", "30076", 70.5),
        ("commune", "30079", 78.4),
        ("province", "87", 83.66),
    ]

    # 4. Corrected: a new file repeating every row of the first supersedes it; the second office's stays.
    drop(
        dropzone,
        "so-khcn-dong-thap",
        "digital_infrastructure",
        name="2023-sua.csv",
        content=(DI_HEADER + rows.replace('"70,5"', '"71,25"')).encode(),
    )
    assert sorted((f.file_name, f.status) for f in pipeline.ingest(dropzone, data_dir).files) == [
        ("2023-sua.csv", "landed"),
        ("2023-xa.csv", "unchanged"),
        ("2023.csv", "unchanged"),
    ]
    assert ledger() == [("2023.csv", "superseded"), ("2023-xa.csv", "landed"), ("2023-sua.csv", "landed")]
    status, built, _ = build_and_publish()
    assert status == "updated" and built == [
        ("commune", "30076", 71.25),
        ("commune", "30079", 78.4),
        ("province", "87", 83.66),
    ]

    # 5. Backfilled: the files that count are read again from their kept bytes; the correction still
    # wins, the second office's row stays, and the ledger's new status (reprocessed) does not stop the build.
    now = datetime.now(UTC)
    backfilled = pipeline.backfill(now - timedelta(days=1), now + timedelta(days=1), dropzone, data_dir)
    assert sorted(f.status for f in backfilled.files) == ["landed", "landed"]
    assert sorted(ledger()) == sorted(
        [
            ("2023-sua.csv", "reprocessed"),
            ("2023-sua.csv", "landed"),
            ("2023-xa.csv", "reprocessed"),
            ("2023-xa.csv", "landed"),
            ("2023.csv", "superseded"),
        ]
    )
    assert build_and_publish()[:2] == ("unchanged", built)


def test_a_failure_no_check_foresaw_rejects_that_file_only(dropzone, data_dir):
    """JSON holding a 5,000-digit number: Python's own parser refuses it (a ValueError no check of
    ours knows). The file is rejected in both languages, the next file lands, the ledger is
    exported, and the next run leaves both as they are."""
    drop(
        dropzone,
        "so-khcn-son-la",
        "digital_infrastructure",
        name="a.json",
        content=('[{"Mã xã": "03664", "Tên đơn vị": "Xã Chiềng Xôm", "Năm": ' + "9" * 5000 + "}]").encode(),
    )
    drop(
        dropzone,
        "so-khcn-son-la",
        "digital_infrastructure",
        name="b.csv",
        content=(DI_HEADER + 'Xã Chiềng Cọ,03658,2023,"39,8","95,02"\n').encode(),
    )
    outcomes = {f.file_name: f for f in ingest_dropzone(dropzone, data_dir, "r1").files}
    assert (
        outcomes["a.json"].status == "rejected"
        and "The file could not be read (ValueError" in outcomes["a.json"].reason
    )
    assert "Không đọc được tệp" in outcomes["a.json"].reason and outcomes["b.csv"].status == "landed"
    assert _problems(dropzone, "so-khcn-son-la", "digital_infrastructure", "a.json")[0]["fix_vi"]
    assert duckdb.sql(f"select file_name, status from '{data_dir}/ledger.parquet' order by 1").fetchall() == [
        ("a.json", "rejected"),
        ("b.csv", "landed"),
    ]
    assert [f.status for f in ingest_dropzone(dropzone, data_dir, "r2").files] == ["unchanged", "unchanged"]


def test_the_empty_bronze_file_of_an_older_data_dir_is_renamed_where_spark_sees_it(dropzone, data_dir):
    # Spark, Hive and Trino skip files named `_*`: a folder read there needs its schema-only file visible.
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = data_dir / "bronze" / "commune_groups" / "_empty.parquet"
    old.parent.mkdir(parents=True)
    pq.write_table(pa.schema([("unit_code", pa.string())]).empty_table(), old)
    ingest_dropzone(dropzone, data_dir, "r1")
    assert not old.exists()
    assert pq.read_table(old.with_name("empty.parquet")).num_rows == 0


def test_an_empty_bronze_file_follows_its_contract_when_a_column_is_added(dropzone, data_dir):
    # A data dir made before the contract gained `year`: dbt selects the column, so it must be there.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ingest.contract import all_contracts
    from ingest.store import bronze_schema

    stale = data_dir / "bronze" / "commune_groups" / "empty.parquet"
    stale.parent.mkdir(parents=True)
    pq.write_table(pa.schema([("unit_code", pa.string())]).empty_table(), stale)
    ingest_dropzone(dropzone, data_dir, "r1")
    assert pq.read_schema(stale).equals(bronze_schema(all_contracts()["commune_groups"]))
    assert "year" in pq.read_schema(stale).names
