"""The DuckDB path for large CSVs gives the same bronze rows as the row-by-row path."""

import contextlib
import json
import os
import unicodedata

import duckdb
import pytest
from helpers import drop, sample

from ingest import bulk_rows
from ingest.contract import all_contracts
from ingest.run import ingest_dropzone

CSV_SAMPLES = [
    ("mot-cua-dong-thap", "public_service_records"),  # 2,000 applications, dates, mixed unit levels
    ("so-khcn-dong-thap", "digital_infrastructure"),  # semicolons, comma decimals, BOM
    ("vp-ntm-dong-thap", "commune_criteria"),  # Windows-1258 with combining tone marks
    ("so-khcn-thai-nguyen", "community_digital_teams"),  # TCVN3
    ("so-khcn-dong-thap", "online_public_services"),  # dot thousands, periods, province and districts
]


def _bronze(data_dir, dataset):
    return duckdb.sql(
        f"select * exclude (_ingested_at, _run_id) from read_parquet("
        f"'{data_dir}/bronze/{dataset}/*.parquet', union_by_name=true) order by _row_number"
    ).fetchall()


# The row path; the bulk path; the bulk path with every cell left to DuckDB's SQL (by default a
# batch's cells that repeat are read in Python, one call per distinct value).
PATHS = (("rows", "100000", bulk_rows.PREPARED_MIN), ("bulk", "0", bulk_rows.PREPARED_MIN), ("bulk_sql", "0", -1))


def _all_paths(tmp_path, monkeypatch, department, dataset, source=None, content=None, messy_name="messy.csv"):
    results, reports = {}, {}
    for path_kind, threshold, prepared_min in PATHS:
        monkeypatch.setenv("NTM_BULK_THRESHOLD_MB", threshold)
        monkeypatch.setattr(bulk_rows, "PREPARED_MIN", prepared_min)
        monkeypatch.setattr(bulk_rows, "PREPARED_SHARE", 10**9 if prepared_min < 0 else bulk_rows.PREPARED_SHARE)
        dropzone, data_dir = tmp_path / path_kind / "dz", tmp_path / path_kind / "data"
        drop(dropzone, department, dataset, source, name=None if source else messy_name, content=content)
        [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
        results[path_kind] = (outcome.status, outcome.rows_landed, outcome.rows_quarantined, _bronze(data_dir, dataset))
        reports[path_kind] = _report(dropzone, department, dataset, outcome.file_name)
    assert results["bulk_sql"] == results["bulk"]
    # The report a department reads is the same whichever path its file took: wording, row, column,
    # value, fix, counts.
    assert reports["bulk"] == reports["rows"] == reports["bulk_sql"]
    return results


def _report(dropzone, department, dataset, file_name):
    path = dropzone / department / "_reports" / dataset / f"{file_name}.report.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


@pytest.mark.parametrize("department, dataset", CSV_SAMPLES)
def test_bulk_path_matches_row_path(department, dataset, tmp_path, monkeypatch):
    results = _all_paths(tmp_path, monkeypatch, department, dataset, source=sample(department, dataset))
    assert results["bulk"][0] == results["rows"][0] == "landed"
    assert results["bulk"][1] == results["rows"][1] > 0
    assert results["bulk"][3] == results["rows"][3]


def _both_paths(tmp_path, monkeypatch, department, dataset, content: bytes):
    results = _all_paths(tmp_path, monkeypatch, department, dataset, content=content)
    del results["bulk_sql"]
    return results


def test_bulk_path_cleans_padding_no_data_marks_and_decomposed_text_like_the_row_path(tmp_path, monkeypatch):
    # Cells as spreadsheets paste them: tabs and no-break spaces around values, "Không có số liệu"
    # in any case, N/A, a name in decomposed Unicode (NFD) with doubled inner spaces.
    nfd = unicodedata.normalize("NFD", "Xã  Chiềng Cọ")
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí",
        "\t03664\u00a0;\u00a0Xã Chiềng Xôm\t;2023; 46,32 ;KHÔNG CÓ SỐ LIỆU",
        f"03658;{nfd};2023;N/A;-",
        "03661; Xã Chiềng Đen ;2023;Chưa có số liệu;3",
    ]
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", "\n".join(lines).encode())
    assert results["bulk"] == results["rows"]
    status, landed, held, rows = results["bulk"]
    assert (status, landed, held) == ("landed", 3, 0)
    names = duckdb.sql(
        f"select unit_code, unit_name, fixed_broadband_household_pct, free_wifi_points from read_parquet("
        f"'{tmp_path}/bulk/data/bronze/digital_infrastructure/*.parquet') order by _row_number"
    ).fetchall()
    assert names == [
        ("03664", "Xã Chiềng Xôm", 46.32, None),
        ("03658", "Xã Chiềng Cọ", None, None),
        ("03661", "Xã Chiềng Đen", None, 3),
    ]
    assert all(unicodedata.is_normalized("NFC", n) for _, n, _, _ in names)


def test_bulk_path_finds_a_key_repeated_only_once_units_are_resolved(tmp_path, monkeypatch):
    # The same commune twice for one year: once by code, once by name alone. Only the resolved code
    # shows the repeat, so the check for repeated keys must look after resolution.
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)",
        "03664;Xã Chiềng Xôm;2023;46,32",
        ";Xã Chiềng Xôm;2023;47",
        "03658;Xã Chiềng Cọ;2023;40",
    ]
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", "\n".join(lines).encode())
    assert results["bulk"][:3] == results["rows"][:3] == ("partly_landed", 2, 1)
    assert results["bulk"][3] == results["rows"][3]


def test_bulk_path_holds_back_bad_rows_with_the_row_paths_reasons(tmp_path, monkeypatch):
    """A range, a malformed number, a repeated key, an unknown unit, a formula in a free-text column,
    a whitespace-only row and a missing required value: the same rows held back, the same report."""
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí",
        "03664;Xã Chiềng Xôm;2023;46,32;2",
        "03658;Xã Chiềng Cọ;2023;146,5;1",
        "03661;Xã Chiềng Đen;2023;41,1,5;1",
        "03664;Xã Chiềng Xôm;2023;46,32;2",
        "99999;Xã Không Có;2023;1;1",
        '03646;=HYPERLINK("http://x");2023;1;1',
        " ; ;\t; ; ",
        "03667;;2023;5;1",
    ]
    results = _all_paths(
        tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content="\n".join(lines).encode()
    )
    assert results["bulk"] == results["rows"]
    assert results["bulk"][:3] == ("partly_landed", 1, 6)
    report = _report(tmp_path / "bulk" / "dz", "so-khcn-son-la", "digital_infrastructure", "messy.csv")
    by_row = {p["row"]: p["en"] for p in report["problems"]}
    assert "outside the allowed range" in by_row[3] and "'41,1,5' has several commas" in by_row[4]
    assert by_row[5] == "Same key as row 2" and "is not in the official list" in by_row[6]
    assert "formula" in by_row[7] and by_row[9] == "Required value 'Commune' is missing"
    assert report["problems_total"] == 6 and report["problems_not_listed"] == 0


def test_bulk_path_reads_line_breaks_in_cells_short_and_long_rows_and_blank_lines_like_the_row_path(
    tmp_path, monkeypatch
):
    # A name wrapped inside its cell (Alt+Enter in Excel), a row missing its last cell, a blank line,
    # a row with a stray extra cell. Rows are numbered as a spreadsheet numbers them: the wrapped
    # cell does not push the rows after it down.
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí",
        "03664;Xã Chiềng Xôm;2022;40;1",
        "03658;Xã Chiềng Cọ;2022;35;1",
        "03661;Xã Chiềng Đen;2022;38;0",
        '03664;"Xã\nChiềng Xôm";2023;46,32;2',
        "03658;Xã Chiềng Cọ;2023;40",
        "",
        "03661;Xã Chiềng Đen;2023;41;1;ghi chú thêm",
    ]
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", "\n".join(lines).encode())
    assert results["bulk"] == results["rows"]
    assert results["bulk"][:3] == ("landed", 6, 0)
    landed = duckdb.sql(
        f"select _row_number, unit_code, unit_name, fixed_broadband_household_pct, free_wifi_points "
        f"from read_parquet('{tmp_path}/bulk/data/bronze/digital_infrastructure/*.parquet') "
        "where year = 2023 order by _row_number"
    ).fetchall()
    assert landed == [
        (5, "03664", "Xã Chiềng Xôm", 46.32, 2),
        (6, "03658", "Xã Chiềng Cọ", 40.0, None),
        (8, "03661", "Xã Chiềng Đen", 41.0, 1),
    ]


def test_bulk_path_numbers_rows_across_many_blocks_with_malformed_rows_like_the_row_path(tmp_path, monkeypatch):
    # Small blocks, so the file is read in dozens of pieces and written in several segments, with
    # malformed rows (put back in place by the `csv` module), wrapped cells and blank lines
    # scattered through it, and one bad date.
    import ingest.bulk
    import ingest.bulk_rows

    monkeypatch.setattr(ingest.bulk_rows, "BLOCK_BYTES", 8192)
    monkeypatch.setattr(ingest.bulk, "SEGMENT_BATCHES", 5)
    header, *rows = sample("mot-cua-dong-thap", "public_service_records").read_text(encoding="utf-8").splitlines()
    lines = [header]
    for i, row in enumerate(rows):
        cells = row.split(",")
        if i % 50 == 7:
            cells[2] = f'"{cells[2]}\n(hồ sơ giấy)"'
        if i % 97 == 5:
            cells.append("ô thừa")
        if i % 131 == 3:
            cells = cells[:-3]  # the personal columns left off
        if i == 1234:
            cells[6] = "31/02/2024"
        lines.append(",".join(cells))
        if i % 211 == 9:
            lines.append("")
    results = _both_paths(
        tmp_path, monkeypatch, "mot-cua-dong-thap", "public_service_records", "\n".join(lines).encode()
    )
    assert results["bulk"][:3] == results["rows"][:3] == ("partly_landed", len(rows) - 1, 1)
    assert results["bulk"][3] == results["rows"][3]
    numbers = [
        r
        for (r,) in duckdb.sql(
            f"select _row_number from read_parquet('{tmp_path}/bulk/data/bronze/public_service_records/*.parquet')"
        ).fetchall()
    ]
    blank_lines_before = [sum(1 for j in range(i) if j % 211 == 9) for i in range(len(rows))]
    expected = {2 + i + blank_lines_before[i] for i in range(len(rows)) if i != 1234}
    assert set(numbers) == expected and len(numbers) == len(expected)
    segments = list((tmp_path / "bulk/data/bronze/public_service_records").glob("mot-cua-dong-thap__*.parquet"))
    assert len(segments) > 3 and not list((tmp_path / "bulk/data/bronze").rglob("*.part"))
    wrapped = duckdb.sql(
        f"select procedure_name from read_parquet('{tmp_path}/bulk/data/bronze/public_service_records/"
        f"*.parquet') where _row_number = {2 + 7}"
    ).fetchone()[0]
    assert wrapped.endswith(" (hồ sơ giấy)")


def test_bulk_path_rejects_a_header_with_only_blank_lines_under_it(dropzone, data_dir, monkeypatch):
    monkeypatch.setenv("NTM_BULK_THRESHOLD_MB", "0")
    drop(
        dropzone,
        "so-khcn-son-la",
        "digital_infrastructure",
        name="empty.csv",
        content="Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)\n\n;;;\n".encode(),
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and outcome.reason.endswith("The file has no data rows")


def test_bulk_path_rejects_bytes_that_are_not_utf8_past_the_first_block_with_a_clear_reason(
    dropzone, data_dir, monkeypatch
):
    # The encoding is decided on the first 256 KB; a stray byte further down stops the file, and the
    # report says what it is, without the readers' own wording.
    monkeypatch.setenv("NTM_BULK_THRESHOLD_MB", "0")
    content = sample("mot-cua-dong-thap", "public_service_records").read_bytes()
    at = content.rindex("Cấp giấy phép".encode())
    drop(
        dropzone,
        "mot-cua-dong-thap",
        "public_service_records",
        name="stray.csv",
        content=content[:at] + b"\xff" + content[at:],
    )
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected"
    assert outcome.reason == (
        "Tệp có ký tự không đúng mã UTF-8 ở phần sau của tệp / The file has characters that are not UTF-8 further down"
    )


def test_a_columns_decimal_mark_is_the_files_on_both_paths(tmp_path, monkeypatch):
    """Dot decimals in this file's column: 0.125 is an eighth and 12.500 twelve and a half (not 125
    and 12,500); 1,797 in a column grouped with commas is 1797; a cell grouped the other way
    (1.797.000) contradicts the file and is held back; a plain decimal with the other mark (46,5)
    has one reading. The same on both paths."""
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí",
        "03664;Xã Chiềng Xôm;2023;0.125;1,797,000",
        "03658;Xã Chiềng Cọ;2023;12.500;2,000,000",
        "03661;Xã Chiềng Đen;2023;98.9;1.797.000",
        "03646;Phường Chiềng Lề;2023;46,5;1,797",
    ]
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", "\n".join(lines).encode())
    assert results["bulk"] == results["rows"]
    assert results["rows"][:3] == ("partly_landed", 3, 1)
    values = duckdb.sql(
        f"select unit_code, fixed_broadband_household_pct, free_wifi_points from read_parquet("
        f"'{tmp_path}/bulk/data/bronze/digital_infrastructure/*.parquet') order by 1"
    ).fetchall()
    assert values == [("03646", 46.5, 1797), ("03658", 12.5, 2000000), ("03664", 0.125, 1797000)]


def test_a_decimal_mark_shown_only_below_the_files_head_is_the_files_on_both_paths(tmp_path, monkeypatch):
    """The bulk path reads its head first (256 KB; here 200 bytes): its numbers (12.500) could be
    either, and only rows further down (98.9, 0.125) show dots are decimals. The row path decides
    on every cell; so must the bulk path, or 12.500 would be twelve thousand five hundred."""
    import ingest.bulk

    monkeypatch.setattr(ingest.bulk, "HEAD_BYTES", 200)
    header = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)"
    ambiguous = [f"03664;Xã Chiềng Xôm;{year};12.500" for year in range(2010, 2020)]
    showing = ["03658;Xã Chiềng Cọ;2023;98.9", "03661;Xã Chiềng Đen;2023;0.125", "03646;Phường Chiềng Lề;2023;46.5"]
    content = "\n".join([header, *ambiguous, *showing]).encode()
    assert len(content.split(b"\n03658")[0]) > 200
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content)
    assert results["bulk"] == results["rows"]
    assert results["rows"][:3] == ("landed", 13, 0)
    values = duckdb.sql(
        f"select distinct fixed_broadband_household_pct from read_parquet("
        f"'{tmp_path}/bulk/data/bronze/digital_infrastructure/*.parquet') order by 1"
    ).fetchall()
    assert values == [(0.125,), (12.5,), (46.5,), (98.9,)]


@pytest.mark.parametrize("character", ["\x00", "\x07"])
def test_a_control_character_anywhere_rejects_the_file_on_both_paths(tmp_path, monkeypatch, character):
    """A NUL (or bell) byte far past the first 64 KB is found, and named by its line, on both paths."""
    header = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)"
    rows = [f"03664;Xã Chiềng Xôm;{year};46,32" for year in range(1900, 2100)] * 30
    lines = [header, *rows[:5000], f"03658;Xã Chiềng{character}Cọ;2023;40", *rows[5000:5010]]
    content = "\n".join(lines).encode()
    assert content.index(character.encode()) > 64 * 1024
    results = _both_paths(tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content)
    assert results["bulk"] == results["rows"] == ("rejected", 0, 0, [])
    for kind in ("rows", "bulk"):
        report = json.loads(
            (
                tmp_path
                / kind
                / "dz"
                / "so-khcn-son-la"
                / "_reports"
                / "digital_infrastructure"
                / "messy.csv.report.json"
            ).read_text()
        )
        assert report["problems"][0]["en"] == (
            f"Line 5002 of the file holds a control character (U+{ord(character):04X}), which is not text"
        )


def _messy_csv_corpus():
    from test_ingest_corpus import CASES, PARTLY

    cases = {
        k: (name, content)
        for k, (name, content, *_) in {**CASES, **PARTLY}.items()
        if name.endswith((".csv", ".txt")) and content
    }
    return sorted(cases.items())


@pytest.mark.parametrize("case, file", _messy_csv_corpus(), ids=[c for c, _ in _messy_csv_corpus()])
def test_bulk_path_reports_the_messy_corpus_as_the_row_path_does(case, file, tmp_path, monkeypatch):
    name, content = file
    results = _all_paths(
        tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content=content, messy_name=name
    )
    assert results["bulk"] == results["rows"]


def test_a_second_table_in_the_file_ends_the_data_on_both_paths(tmp_path, monkeypatch):
    """Below the digital-infrastructure table, an online-services table with its own header: its
    header and rows are held back as another table's, never landed as this dataset's columns."""
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%)",
        "03664;Xã Chiềng Xôm;2023;46,32",
        "03658;Xã Chiềng Cọ;2023;40",
        "Mã đơn vị;Tên đơn vị;Kỳ báo cáo;Tổng số TTHC",
        "14;Tỉnh Sơn La;2023;1797",
        "03661;Xã Chiềng Đen;2023;41",
    ]
    results = _all_paths(
        tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content="\n".join(lines).encode()
    )
    assert results["bulk"][:3] == results["rows"][:3] == ("partly_landed", 2, 3)
    report = _report(tmp_path / "bulk" / "dz", "so-khcn-son-la", "digital_infrastructure", "messy.csv")
    assert [(p["row"], p["en"]) for p in report["problems"]] == [
        (n, "Another table starts at row 4; its rows do not belong to this dataset") for n in (4, 5, 6)
    ]


def test_a_report_lists_at_most_a_thousand_problems_then_counts_them_on_both_paths(tmp_path, monkeypatch):
    from ingest.report import MAX_LISTED_PROBLEMS

    header = "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí"
    bad = [f"03664;Xã Chiềng Xôm;{2000 + i % 20};{100 + i},5;{'x' if i % 3 == 0 else 1}" for i in range(1500)]
    results = _all_paths(
        tmp_path,
        monkeypatch,
        "so-khcn-son-la",
        "digital_infrastructure",
        content="\n".join([header, "03658;Xã Chiềng Cọ;2023;40;1", *bad]).encode(),
    )
    assert results["bulk"][:3] == results["rows"][:3] == ("partly_landed", 1, 1500)
    report = _report(tmp_path / "bulk" / "dz", "so-khcn-son-la", "digital_infrastructure", "messy.csv")
    assert len(report["problems"]) == MAX_LISTED_PROBLEMS
    assert report["problems_total"] == 2000 and report["problems_not_listed"] == 1000
    assert [(c["column"], c["problems"]) for c in report["problems_by_column"]] == [
        ("fixed_broadband_household_pct", 1500),
        ("free_wifi_points", 500),
    ]


def test_cells_sql_cannot_read_are_read_by_the_row_paths_parser_on_both_paths(tmp_path, monkeypatch):
    # Full-width digits, thin and narrow no-break spaces, a full-width minus: the row path's parser
    # reads them (values.digits_form); the bulk path hands SQL's misses to that same parser.
    lines = [
        "Mã xã;Tên đơn vị;Năm;Tỷ lệ hộ có Internet cáp quang (%);Số điểm wifi công cộng miễn phí",
        "０３６６４;Xã Chiềng Xôm;２０２３;４６,３２;1\u20092",
        "03658;Xã Chiềng Cọ;2023;70\u202f;\uff0d",
        "03661;Xã Chiềng Đen;2023;46,32;abc",
    ]
    results = _both_paths(
        tmp_path, monkeypatch, "so-khcn-son-la", "digital_infrastructure", content="\n".join(lines).encode()
    )
    assert results["bulk"] == results["rows"]
    assert results["rows"][:3] == ("partly_landed", 2, 1)
    for kind in ("rows", "bulk"):
        landed = duckdb.sql(
            "select unit_code, year, fixed_broadband_household_pct, free_wifi_points from read_parquet("
            f"'{tmp_path / kind / 'data'}/bronze/digital_infrastructure/*.parquet', union_by_name=true) "
            "order by _row_number"
        ).fetchall()
        assert landed == [("03664", 2023, 46.32, 12), ("03658", 2023, 70.0, None)]


def test_a_file_after_one_whose_duckdb_spilled_to_disk_still_lands(tmp_path, monkeypatch):
    # The bulk path keeps one DuckDB per thread; each file spills into a scratch folder of its own,
    # removed after it. DuckDB does not move a spill folder once used: every later file of the
    # process was rejected as unreadable ("Cannot switch temporary directory").
    import shutil

    from ingest import bulk

    earlier = tmp_path / "earlier-file-scratch"
    earlier.mkdir()
    con = bulk._connect(earlier)
    con.execute("SET memory_limit = '32MB'")  # a sort of 3 M strings: spilled to the folder
    con.execute("SELECT count(*) FROM (SELECT hash(i)::VARCHAR AS s FROM range(3000000) t(i) ORDER BY s LIMIT 2999999)")
    bulk._close(con)
    shutil.rmtree(earlier)
    monkeypatch.setenv("NTM_BULK_THRESHOLD_MB", "0")
    dropzone, data_dir = tmp_path / "dz", tmp_path / "data"
    drop(dropzone, "mot-cua-dong-thap", "public_service_records", sample("mot-cua-dong-thap", "public_service_records"))
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert (outcome.status, outcome.rows_landed) == ("landed", 2000), outcome


class _CountedReads:
    """bulk_rows._PacedFile, counting the blocks read and the batches handed over, and the most
    blocks read beyond them at any time."""

    def __init__(self, monkeypatch):
        self.read = self.handed = self.furthest = 0
        self.after_close = 0
        counts, paced = self, bulk_rows._PacedFile

        class Counted(paced):
            def readinto(self, buffer):
                n = super().readinto(buffer)
                counts.read += n > 0
                counts.after_close += n > 0 and self.closed
                counts.furthest = max(counts.furthest, counts.read - counts.handed)
                return n

            def handed_over(self):
                counts.handed += 1
                super().handed_over()

        monkeypatch.setattr(bulk_rows, "_PacedFile", Counted)


def _many_blocks(tmp_path, monkeypatch, rows=40_000):
    monkeypatch.setattr(bulk_rows, "BLOCK_BYTES", 16 * 1024)
    path = tmp_path / "rows.csv"
    path.write_text("".join(f"000.00.30085.H20-{i:08d},{'x' * 80}\n" for i in range(rows)), encoding="utf-8")
    record_id = all_contracts()["public_service_records"].column("record_id")
    return bulk_rows.NumberedRows(bulk_rows.Layout(path, ",", 0, 2, {0: record_id}), units=None)


def test_the_bulk_reader_reads_no_more_than_a_few_blocks_ahead_of_the_batches_taken(tmp_path, monkeypatch):
    # pyarrow's reader, left to itself, reads up to 32 blocks ahead of the batches taken from it
    # (37 counted here): memory that grew with the file. Taken slowly, a batch at a time, the file is
    # read at most BLOCKS_AHEAD blocks (and the one being parsed) beyond the batches handed over.
    import time

    counts = _CountedReads(monkeypatch)
    landed = 0
    for batch in _many_blocks(tmp_path, monkeypatch).batches():
        landed += batch.num_rows
        time.sleep(0.002)
    assert landed == 40_000 and counts.handed > 200  # about 240 blocks
    assert counts.furthest <= bulk_rows.BLOCKS_AHEAD + 1, vars(counts)


def test_a_pass_given_up_by_an_error_stops_reading_the_file(tmp_path, monkeypatch):
    # The reader reads through Python: left reading after its pass was given up, it kept a
    # thread in Python until the interpreter's exit, which then aborted.
    import time

    from ingest import bulk

    counts = _CountedReads(monkeypatch)
    rows = _many_blocks(tmp_path, monkeypatch)
    monkeypatch.setattr(bulk, "SEGMENT_BATCHES", 3)
    with pytest.raises(RuntimeError):
        with contextlib.closing(bulk._segments(all_contracts()["public_service_records"], rows, tmp_path)) as segments:
            for i, _ in enumerate(segments):
                if i == 2:
                    raise RuntimeError("a segment failed")
    read = counts.read
    time.sleep(2.5)  # longer than a read waits for room (WAIT_S)
    assert counts.read == read and counts.after_close == 0 and read < 40, vars(counts)


ABANDONED_PASS = """
import sys
sys.path.insert(0, {repo!r})
import duckdb
from pathlib import Path
from ingest import bulk, bulk_rows
from ingest.run import ingest_dropzone

bulk_rows.BLOCK_BYTES, bulk.SEGMENT_BATCHES = 8 * 1024, 3  # dozens of blocks; the third segment fails
typed_view, made = bulk._create_typed_view, []

def failing(con, *args, **kwargs):
    made.append(1)
    if len(made) == 3:
        raise duckdb.InvalidInputException("a segment failed")
    return typed_view(con, *args, **kwargs)

bulk._create_typed_view = failing
[outcome] = ingest_dropzone(Path({dropzone!r}), Path({data_dir!r}), "r1").files
print(outcome.status)
"""


def test_a_process_whose_bulk_pass_failed_half_way_exits_cleanly(tmp_path):
    # The reader reads through Python (bulk_rows._PacedFile). Left reading after a pass failed, it
    # still held a thread in Python when the interpreter exited, which then aborted ("Fatal Python
    # error: PyGILState_Release"): the pass's file is closed as soon as it fails.
    import subprocess
    import sys

    from helpers import REPO

    dropzone = tmp_path / "dz"
    drop(dropzone, "mot-cua-dong-thap", "public_service_records", sample("mot-cua-dong-thap", "public_service_records"))
    script = ABANDONED_PASS.format(repo=str(REPO), dropzone=str(dropzone), data_dir=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NTM_BULK_THRESHOLD_MB": "0"},
    )
    assert (done.returncode, done.stdout.split()[-1:]) == (0, ["rejected"]), done.stderr[-2000:]
    assert "Fatal Python error" not in done.stderr


def test_duckdb_takes_a_segments_batches_as_it_scans_them_not_a_read_ahead_of_its_own(tmp_path, monkeypatch):
    # DuckDB wraps a registered RecordBatchReader in a pyarrow Scanner, which takes up to 16 batches
    # ahead of the scan, past the reader's pacing: 150 MB more live at 10 M records than at 1 M.
    # Scanned as an Arrow C stream, a query that needs one row takes a few batches, and no more after it.
    import time

    from ingest import bulk

    counts = _CountedReads(monkeypatch)
    rows = _many_blocks(tmp_path, monkeypatch)
    with contextlib.closing(bulk._segments(all_contracts()["public_service_records"], rows, tmp_path)) as segments:
        first = next(segments)
        assert first.execute("SELECT _row_number FROM typed LIMIT 1").fetchall() == [(1,)]
        time.sleep(0.5)  # a read-ahead of DuckDB's own would go on taking batches meanwhile
        taken = counts.handed
    assert 1 <= taken <= 6, vars(counts)
