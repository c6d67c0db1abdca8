"""Ingest on the bundled department samples and on crafted files."""

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from helpers import drop, edited_contract, sample

from ingest.run import ingest_dropzone

SON_LA = ("so-khcn-son-la", "digital_infrastructure")
DONG_THAP = ("so-khcn-dong-thap", "digital_infrastructure")


def _bronze(data_dir, dataset="digital_infrastructure"):
    return duckdb.sql(
        f"select * from read_parquet('{data_dir}/bronze/{dataset}/*.parquet', union_by_name=true) "
        "order by _source_file, _row_number"
    ).df()


def test_report_style_excel_sample(dropzone, data_dir):
    drop(dropzone, *SON_LA, sample(*SON_LA))
    result = ingest_dropzone(dropzone, data_dir, "r1")
    [outcome] = result.files
    # 11 commune rows: group, total, footnote and signature rows are not data.
    assert (outcome.status, outcome.rows_landed, outcome.rows_quarantined) == ("landed", 11, 0)
    rows = _bronze(data_dir).set_index("unit_code")
    assert rows.loc["03664", "fixed_broadband_household_pct"] == 46.32
    assert rows.loc["03664", "mobile_4g5g_household_pct"] == 99.15
    assert rows.loc["03664", "smartphone_household_pct"] == 96.36
    assert rows.loc["03649", "unit_name"] == "Phường Tô Hiệu"  # code got its leading zero back
    assert rows.loc["03661", "unit_name"] == "xã Chiềng Đen"  # no code: resolved by name in its group
    assert rows.loc["03667", "fixed_broadband_household_pct"] == 64.7  # "64,7%"
    assert rows.loc["04114", "unit_name"] == "Xã Chiềng Chăn"  # trailing space trimmed
    assert rows.loc["03676"].isna()["fixed_broadband_household_pct"]  # "-" is no data, not 0
    assert set(rows["year"]) == {2023}  # from the title "NĂM 2023"
    assert set(rows["unit_list_version"]) == {"2024"}
    assert set(rows["_department"]) == {"so-khcn-son-la"}
    assert list(rows["_row_number"])[:2] == [11, 12]  # the Excel row numbers


def test_unknown_unit_is_held_back_with_candidates(dropzone, data_dir):
    drop(
        dropzone,
        *DONG_THAP,
        name="don_vi_la.csv",
        content=(
            "Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n"
            "Xã Ba Sao;2023;76,9\nXã Mỹ Thọo;2023;80\nMỹ Thọ;2023;81\n"
        ).encode(),
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert (outcome.status, outcome.rows_landed, outcome.rows_quarantined) == ("partly_landed", 1, 2)
    report = json.loads(
        (
            dropzone / "so-khcn-dong-thap" / "_reports" / "digital_infrastructure" / "don_vi_la.csv.report.json"
        ).read_text()
    )
    by_row = {p["row"]: p for p in report["problems"]}
    assert "not in the official list" in by_row[3]["en"] and "30100" in by_row[3]["fix_en"]
    assert "fits several units" in by_row[4]["en"]
    assert "30076" in by_row[4]["fix_vi"] and "30100" in by_row[4]["fix_vi"]  # TT. and Xã Mỹ Thọ


def test_original_bytes_kept_and_redrop_changes_nothing(dropzone, data_dir):
    path = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    first = ingest_dropzone(dropzone, data_dir, "r1")
    assert first.files[0].status == "landed" and first.files[0].rows_landed == 12
    raw = list((data_dir / "raw").rglob("*.csv"))
    assert len(raw) == 1 and raw[0].read_bytes() == path.read_bytes()
    second = ingest_dropzone(dropzone, data_dir, "r2")
    assert second.files[0].status == "unchanged"
    assert len(_bronze(data_dir)) == 12
    ledger = duckdb.sql(f"select status, rows_landed from '{data_dir}/ledger.parquet'").fetchall()
    assert ledger == [("landed", 12)]


def test_a_file_not_written_since_it_was_read_is_not_read_again_and_one_rewritten_is(dropzone, data_dir, monkeypatch):
    """A run does not hash the drop zone's history again: a file whose size, times and inode are
    unchanged is known. One rewritten in place with bytes of the same length and its old
    modification time put back is read again: the write changed its change time."""
    import os

    from ingest import landing

    hashed = []
    hash_and_find = landing.hash_and_find
    monkeypatch.setattr(
        landing, "hash_and_find", lambda path, find=None: hashed.append(path.name) or hash_and_find(path, find)
    )
    path = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    assert ingest_dropzone(dropzone, data_dir, "r1").files[0].status == "landed"
    assert ingest_dropzone(dropzone, data_dir, "r2").files[0].status == "unchanged"
    assert hashed == [path.name]
    before, content = path.stat(), path.read_bytes()
    changed = content.replace(b";2023;83,66", b";2023;84,10")
    assert changed != content and len(changed) == len(content)
    path.write_bytes(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    third = ingest_dropzone(dropzone, data_dir, "r3").files
    assert [f.status for f in third] == ["landed"] and hashed == [path.name] * 2
    assert 84.10 in set(_bronze(data_dir)["fixed_broadband_household_pct"])


def test_corrected_file_supersedes_the_old_one(dropzone, data_dir):
    original = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    ingest_dropzone(dropzone, data_dir, "r1")
    corrected = original.read_bytes().replace(
        b"30100;X\xc3\xa3 M\xe1\xbb\xb9 Th\xe1\xbb\x8d;2023;83,66",
        b"30100;X\xc3\xa3 M\xe1\xbb\xb9 Th\xe1\xbb\x8d;2023;84,10",
    )
    assert corrected != original.read_bytes()
    drop(dropzone, *DONG_THAP, name="HaTangSo_HuyenCaoLanh_2023_sua.csv", content=corrected)
    result = ingest_dropzone(dropzone, data_dir, "r2")
    assert [f.status for f in result.files] == ["unchanged", "landed"]
    ledger = dict(duckdb.sql(f"select file_name, status from '{data_dir}/ledger.parquet'").fetchall())
    assert ledger == {"HaTangSo_HuyenCaoLanh_2023.csv": "superseded", "HaTangSo_HuyenCaoLanh_2023_sua.csv": "landed"}
    assert len(_bronze(data_dir)) == 24  # history is kept; the current view is built in dbt


def test_unknown_dataset_folder_is_rejected_with_a_report(dropzone, data_dir):
    drop(dropzone, "so-khcn-son-la", "bao_cao_khac", name="x.csv", content=b"a,b\n1,2\n")
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected"
    assert (
        "bao_cao_khac" in outcome.reason
        and "digital_infrastructure"
        in json.loads((dropzone / "so-khcn-son-la" / "_reports" / "bao_cao_khac" / "x.csv.report.json").read_text())[
            "problems"
        ][0]["fix_en"]
    )


def test_missing_required_column_names_accepted_headers(dropzone, data_dir):
    drop(
        dropzone,
        *DONG_THAP,
        name="thieu_cot.csv",
        content="Mã xã;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n30085;2023;76,9\n".encode(),
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected"
    assert "Tên đơn vị hành chính" in outcome.reason and "Missing required columns" in outcome.reason
    assert not list((data_dir / "bronze" / "digital_infrastructure").glob("so-khcn*"))


def test_half_written_file_is_left_for_the_next_run(dropzone, data_dir):
    path = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    path.touch()  # just modified: still being copied
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "not_ready"
    assert pq.read_table(data_dir / "bronze" / "digital_infrastructure" / "empty.parquet").num_rows == 0


def test_the_datasets_page_matches_the_contracts():
    from ingest.contract import all_contracts
    from ingest.docs import render

    page = (Path(__file__).resolve().parent.parent / "docs" / "datasets.md").read_text(encoding="utf-8")
    assert page == render(all_contracts()), "run `uv run ntm contracts --write docs/datasets.md`"
    assert "Tỷ lệ hộ có Internet cáp quang (%)" in page and "personal data, dropped" in page


def test_backfill_reads_a_period_again_with_the_fixed_contract(dropzone, data_dir, tmp_path, monkeypatch):
    import datetime as dt

    from ingest.backfill import reingest_received

    text = sample(*DONG_THAP).read_text(encoding="utf-8-sig")
    drop(dropzone, *DONG_THAP, name="HaTangSo_2023.csv", content=text.replace("Tên đơn vị;", "Địa bàn;", 1).encode())
    [rejected] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert rejected.status == "rejected" and "Missing required columns" in rejected.reason
    # The contract is fixed: departments may write "Địa bàn" for the unit's name.
    fixed = ("[Tên đơn vị hành chính, ", "[Địa bàn, Tên đơn vị hành chính, ")
    with edited_contract(tmp_path, monkeypatch, "digital_infrastructure", *fixed):
        assert ingest_dropzone(dropzone, data_dir, "r2").files[0].status == "unchanged"  # same bytes: no news
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        before = reingest_received(dropzone, data_dir, "backfill-yesterday", today - dt.timedelta(days=1), today)
        assert before.files == []
        [again] = reingest_received(dropzone, data_dir, "backfill-today", today, today + dt.timedelta(days=1)).files
    assert again.status == "landed" and again.rows_landed == 12
    ledger = duckdb.sql(
        f"select status, run_id, received_at from '{data_dir}/ledger.parquet' order by run_id"
    ).fetchall()
    assert [(s, r) for s, r, _ in ledger] == [("landed", "backfill-today"), ("reprocessed", "r1")]
    assert ledger[0][2] == ledger[1][2]  # the new reading keeps the file's place in time
    bronze = _bronze(data_dir)
    assert len(bronze) == 12 and set(bronze._run_id) == {"backfill-today"}
    assert bronze.set_index("unit_code").loc["30100", "fixed_broadband_household_pct"] == 83.66


def test_backfill_never_displaces_a_later_correction(dropzone, data_dir):
    import datetime as dt

    from ingest.backfill import reingest_received

    original = drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    ingest_dropzone(dropzone, data_dir, "r1")
    drop(dropzone, *DONG_THAP, name="sua.csv", content=original.read_bytes().replace(b";2023;83,66", b";2023;84,10"))
    ingest_dropzone(dropzone, data_dir, "r2")
    day = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    [again] = reingest_received(dropzone, data_dir, "r3", day, day + dt.timedelta(days=2)).files
    assert again.file_name == "sua.csv"  # the superseded original is not read again
    ledger = dict(duckdb.sql(f"select file_name || '@' || run_id, status from '{data_dir}/ledger.parquet'").fetchall())
    assert ledger == {
        "HaTangSo_HuyenCaoLanh_2023.csv@r1": "superseded",
        "sua.csv@r2": "reprocessed",
        "sua.csv@r3": "landed",
    }


def test_backfill_from_the_command_line(dropzone, data_dir, capsys):
    import datetime as dt

    from ntm.cli import main

    drop(dropzone, *DONG_THAP, sample(*DONG_THAP))
    ingest_dropzone(dropzone, data_dir, "r1")
    today = dt.datetime.now(dt.UTC).date()
    code = main(
        [
            "--data-dir",
            str(data_dir),
            "backfill",
            "--since",
            str(today),
            "--until",
            str(today + dt.timedelta(days=1)),
            "--dropzone",
            str(dropzone),
        ]
    )
    assert code == 0 and "landed" in capsys.readouterr().out
    statuses = sorted(r[0] for r in duckdb.sql(f"select status from '{data_dir}/ledger.parquet'").fetchall())
    assert statuses == ["landed", "reprocessed"]


def test_every_stored_contract_column_is_described_in_both_languages_and_nothing_else():
    # A comma inside an unquoted YAML flow mapping splits a description into stray keys.
    from ingest.contract import all_contracts

    for contract in all_contracts().values():
        for column in contract.stored_columns:
            assert set(column.description) == {"vi", "en"}, (contract.id, column.name, list(column.description))
