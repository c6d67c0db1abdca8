"""Every column accounted for, every cell read as the department's program showed it (#26, #33).

Each test drops a file built the way departments build them and asserts the values that land in
bronze (and what the report says), not only the verdict."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ingest.run import ingest_dropzone
from tests.helpers import REPO, drop

DIGITAL = ("so-khcn-dong-thap", "digital_infrastructure")
COOPERATIVES = ("so-nnmt-dong-thap", "cooperatives")
SERVICES = ("so-khcn-dong-thap", "online_public_services")
INDICATORS = ("vp-ntm-dong-thap", "indicator_values")


def bronze(data_dir: Path, dataset: str, columns: str, order: str = "_sheet, _row_number") -> list[tuple]:
    files = [str(p) for p in (data_dir / "bronze" / dataset).glob("*.parquet")]
    query = f"select {columns} from read_parquet(?, union_by_name = true) order by {order}"
    return duckdb.connect().execute(query, [files]).fetchall()


def report_of(dropzone: Path, department: str, dataset: str, name: str) -> dict:
    path = dropzone / department / "_reports" / dataset / f"{name}.report.json"
    return json.loads(path.read_text(encoding="utf-8"))


def land(dropzone: Path, data_dir: Path, where: tuple[str, str], name: str, content: bytes):
    drop(dropzone, *where, name=name, content=content)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    return outcome


def workbook_bytes(build, tmp_path: Path, name: str = "book.xlsx") -> bytes:
    book = openpyxl.Workbook()
    build(book)
    path = tmp_path / name
    book.save(path)
    return path.read_bytes()


# --- every column accounted for -------------------------------------------------------------------


def test_a_renamed_figure_column_is_refused_with_the_closest_header_not_landed_empty(dropzone, data_dir):
    text = 'Mã xã,Tên xã,Năm,Tỷ lệ hộ có cáp quang (%)\n30121,Xã Mỹ Xương,2024,"146,3"\n30079,Xã Gáo Giồng,2024,70\n'
    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.csv", text.encode())
    assert outcome.status == "rejected" and outcome.rows_landed == 0
    assert bronze(data_dir, "digital_infrastructure", "count(*)", order="1") == [(0,)]
    [problem] = report_of(dropzone, *DIGITAL, "HaTangSo_2024.csv")["problems"]
    assert "Tỷ lệ hộ có cáp quang (%)" in problem["en"] and "None of the form's figure columns" in problem["en"]


def test_an_unrecognised_column_beside_recognised_ones_is_reported_with_the_closest_headers(dropzone, data_dir):
    renamed = "Tỷ lệ hộ dùng điện thoại thông minh (%)"
    text = f'Mã xã,Tên xã,Năm,Tỷ lệ hộ có Internet cáp quang (%),{renamed}\n30121,Xã Mỹ Xương,2024,"70,1","80,5"\n'
    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.csv", text.encode())
    assert outcome.status == "landed" and outcome.columns_not_recognised == [renamed]
    assert bronze(data_dir, "digital_infrastructure", "unit_code, fixed_broadband_household_pct") == [("30121", 70.1)]
    report = report_of(dropzone, *DIGITAL, "HaTangSo_2024.csv")
    assert report["columns"]["not_recognised"] == [renamed]
    assert "fixed_broadband_household_pct" in report["columns"]["read"]
    [note] = report["notes"]
    assert note["value"] == renamed and "Column not recognised (column 5)" in note["en"]
    assert "Tỷ lệ hộ có điện thoại thông minh (%)" in note["fix_en"]  # the closest accepted header


def test_ntm_check_json_is_one_object_and_exit_0_only_with_every_column_read(tmp_path):
    good = tmp_path / "tot.csv"
    good.write_text('Mã xã,Tên xã,Năm,Tỷ lệ hộ có Internet cáp quang (%)\n30121,Xã Mỹ Xương,2024,"70,1"\n')
    extra = tmp_path / "them_cot.csv"
    extra.write_text('Mã xã,Tên xã,Năm,Tỷ lệ hộ có Internet cáp quang (%),Cột lạ\n30121,Xã Mỹ Xương,2024,"70,1",x\n')

    def check(path: Path) -> tuple[int, dict]:
        done = subprocess.run(
            ["uv", "run", "ntm", "check", str(path), "--dataset", DIGITAL[1], "--department", DIGITAL[0], "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "NTM_DATA_DIR": str(tmp_path / "untouched")},
        )
        return done.returncode, json.loads(done.stdout)

    code, verdict = check(good)
    assert code == 0 and verdict["verdict"] == "landed" and verdict["rows_landed"] == 1
    assert verdict["columns"]["not_recognised"] == [] and verdict["problems"] == []
    code, verdict = check(extra)
    assert code == 1 and verdict["verdict"] == "landed" and verdict["columns"]["not_recognised"] == ["Cột lạ"]


def test_a_row_with_every_figure_blank_is_reported(dropzone, data_dir):
    text = (
        "Mã xã,Tên xã,Năm,Tỷ lệ hộ có Internet cáp quang (%),Số điểm wifi miễn phí\n"
        '30121,Xã Mỹ Xương,2024,-,\n30079,Xã Gáo Giồng,2024,"70,1",3\n'
    )
    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.csv", text.encode())
    assert outcome.status == "landed"
    [note] = report_of(dropzone, *DIGITAL, "HaTangSo_2024.csv")["notes"]
    assert note["row"] == 2 and "no figure" in note["en"]


# --- cells as the department saw them -------------------------------------------------------------


def _percent_sheet(book):
    sheet = book.active
    sheet.append(["Mã xã", "Tên xã", "Năm", "Tỷ lệ hộ có Internet cáp quang (%)", "Tỷ lệ hộ được phủ sóng 4G/5G (%)"])
    for code, name, fibre, mobile, fmt in (
        ("30121", "Xã Mỹ Xương", 0.701, 0.98, "0.00%"),  # built-in format 10
        ("30079", "Xã Gáo Giồng", 0.65, 1, "0%"),  # built-in format 9
        ("30082", "Xã Phương Thịnh", 0.4525, 0.995, "#,##0.0%"),  # a custom percent format
    ):
        sheet.append([code, name, 2024, fibre, mobile])
        for cell in sheet[sheet.max_row][3:5]:
            cell.number_format = fmt


def test_percent_formatted_cells_land_as_the_percentages_excel_shows(dropzone, data_dir, tmp_path):
    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.xlsx", workbook_bytes(_percent_sheet, tmp_path))
    assert outcome.status == "landed", outcome.reason
    rows = bronze(
        data_dir, "digital_infrastructure", "unit_code, fixed_broadband_household_pct, mobile_4g5g_household_pct"
    )
    assert rows == [("30121", 70.1, 98.0), ("30079", 65.0, 100.0), ("30082", 45.25, 99.5)]


def test_a_percent_cell_under_a_column_that_is_not_a_percentage_is_held_back(dropzone, data_dir, tmp_path):
    def build(book):
        sheet = book.active
        sheet.append(["Tên HTX", "Mã xã", "Xã", "Lĩnh vực", "Số thành viên", "Năm"])
        sheet.append(["HTX A", "30121", "Xã Mỹ Xương", "Trồng trọt", 0.45, 2024])
        sheet["E2"].number_format = "0%"
        sheet.append(["HTX B", "30079", "Xã Gáo Giồng", "Trồng trọt", 32, 2024])

    outcome = land(dropzone, data_dir, COOPERATIVES, "HTX_2024.xlsx", workbook_bytes(build, tmp_path))
    assert outcome.status == "partly_landed"
    assert bronze(data_dir, "cooperatives", "cooperative_name, members") == [("HTX B", 32)]
    [problem] = report_of(dropzone, *COOPERATIVES, "HTX_2024.xlsx")["problems"]
    assert problem["row"] == 2 and "percentage-formatted" in problem["en"]


def test_valid_utf8_with_a_few_foreign_characters_lands_as_written(dropzone, data_dir):
    text = "Tên HTX,Mã xã,Xã,Lĩnh vực,Số thành viên,Năm\nHTX A,30121,Xã Mỹ Xương,４１２ 中文字 ØØØ 😀,４５,2019\n"
    outcome = land(dropzone, data_dir, COOPERATIVES, "HTX_2019.csv", text.encode())
    assert outcome.status == "landed", outcome.reason
    assert bronze(data_dir, "cooperatives", "field, members") == [("４１２ 中文字 ØØØ 😀", 45)]


def test_digits_and_spaces_of_other_unicode_forms_are_read_as_numbers(dropzone, data_dir):
    thin, narrow, nbsp = "\u2009", "\u202f", "\u00a0"
    text = (
        "Đơn vị,Kỳ báo cáo,Tổng số TTHC,Số hồ sơ tiếp nhận\n"
        f"Tỉnh Đồng Tháp,Quý I/2024,1{thin}797,118{narrow}420\n"
        f"Huyện Cao Lãnh,Quý I/2024,４１２,9{nbsp}874\n"
    )
    outcome = land(dropzone, data_dir, SERVICES, "DVCTT_QuyI_2024.csv", text.encode())
    assert outcome.status == "landed", outcome.reason
    rows = bronze(data_dir, "online_public_services", "procedures_total, records_received")
    assert rows == [(1797, 118420), (412, 9874)]


def test_one_decimal_convention_per_file_english_locale_export(dropzone, data_dir):
    text = (
        "Đơn vị,Kỳ báo cáo,Tổng số TTHC,Tỷ lệ toàn trình (%),Số hồ sơ tiếp nhận\n"
        'Tỉnh Đồng Tháp,Quý I/2024,"1,802",50.61%,"118,420"\n'
        'Huyện Cao Lãnh,Quý I/2024,412,48.79%,"9,874"\n'
    )
    outcome = land(dropzone, data_dir, SERVICES, "DVCTT_QuyI_2024.csv", text.encode())
    assert outcome.status == "landed", outcome.reason
    rows = bronze(data_dir, "online_public_services", "procedures_total, full_online_pct, records_received")
    assert rows == [(1802, 50.61, 118420), (412, 48.79, 9874)]


# --- report forms ---------------------------------------------------------------------------------


def test_a_form_with_level_rows_and_a_column_number_row_lands_whole(dropzone, data_dir, tmp_path):
    def build(book):
        sheet = book.active
        for row in (
            ["STT", "Đơn vị", "Kỳ báo cáo", "Tổng số TTHC"],
            ["(1)", "(2)", "(3)", "(4)"],
            ["I", "Cấp tỉnh", None, None],
            [1, "Tỉnh Đồng Tháp", "Quý I/2023", 1790],
            ["II", "Cấp huyện", None, None],
            [2, "Huyện Cao Lãnh", "Quý I/2023", 410],
        ):
            sheet.append(row)

    outcome = land(dropzone, data_dir, SERVICES, "DVCTT_QuyI_2023.xlsx", workbook_bytes(build, tmp_path))
    assert (outcome.status, outcome.rows_landed) == ("landed", 2), outcome.reason
    rows = bronze(data_dir, "online_public_services", "unit_name, unit_level, unit_code, period, procedures_total")
    assert rows == [
        ("Tỉnh Đồng Tháp", "province", "87", "2023-Q1", 1790),
        ("Huyện Cao Lãnh", "district", "873", "2023-Q1", 410),
    ]


# --- every sheet, every merged cell ---------------------------------------------------------------

HEADER = ["Mã xã", "Tên xã", "Năm", "Tỷ lệ hộ có Internet cáp quang (%)"]


def test_every_visible_sheet_with_the_form_is_read_and_an_instructions_sheet_is_listed(dropzone, data_dir, tmp_path):
    def build(book):
        book.active.title = "Hướng dẫn"
        book.active.append(["Điền số liệu vào các trang theo năm"])
        for year, value in ((2023, 61.5), (2024, 70.1)):
            sheet = book.create_sheet(str(year))
            sheet.append(HEADER)
            sheet.append(["30121", "Xã Mỹ Xương", year, value])

    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo.xlsx", workbook_bytes(build, tmp_path))
    assert (outcome.status, outcome.rows_landed) == ("landed", 2), outcome.reason
    rows = bronze(data_dir, "digital_infrastructure", "_sheet, year, fixed_broadband_household_pct")
    assert rows == [("2023", 2023, 61.5), ("2024", 2024, 70.1)]
    [note] = report_of(dropzone, *DIGITAL, "HaTangSo.xlsx")["notes"]
    assert note["sheet"] == "Hướng dẫn" and "Sheet 'Hướng dẫn' was not read" in note["en"]


def test_a_hidden_sheet_is_not_read_and_is_reported(dropzone, data_dir, tmp_path):
    def build(book):
        old = book.active
        old.title = "Năm trước"
        old.append(HEADER)
        old.append(["30121", "Xã Mỹ Xương", 2024, 61.5])
        old.sheet_state = "hidden"
        current = book.create_sheet("Biểu 01")
        current.append(HEADER)
        current.append(["30121", "Xã Mỹ Xương", 2024, 70.1])
        book.active = 1

    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.xlsx", workbook_bytes(build, tmp_path))
    assert outcome.status == "landed", outcome.reason
    assert bronze(data_dir, "digital_infrastructure", "_sheet, fixed_broadband_household_pct") == [("Biểu 01", 70.1)]
    [note] = report_of(dropzone, *DIGITAL, "HaTangSo_2024.xlsx")["notes"]
    assert note["en"] == "Hidden sheet 'Năm trước' was not read"


def test_the_same_key_on_two_sheets_keeps_the_later_sheet_and_says_so(dropzone, data_dir, tmp_path):
    def build(book):
        for title, value in (("Lần 1", 61.5), ("Lần 2", 70.1)):
            sheet = book.create_sheet(title)
            sheet.append(HEADER)
            sheet.append(["30121", "Xã Mỹ Xương", 2024, value])
        del book["Sheet"]

    outcome = land(dropzone, data_dir, DIGITAL, "HaTangSo_2024.xlsx", workbook_bytes(build, tmp_path))
    assert (outcome.status, outcome.rows_landed) == ("landed", 1)
    assert bronze(data_dir, "digital_infrastructure", "_sheet, fixed_broadband_household_pct") == [("Lần 2", 70.1)]
    [note] = report_of(dropzone, *DIGITAL, "HaTangSo_2024.xlsx")["notes"]
    assert note["sheet"] == "Lần 1" and "later sheet" in note["en"]


def _merged_form(book):
    sheet = book.active
    sheet.append(["Tên xã", "Năm", "Tiêu chí số", "Mã chỉ tiêu", "Giá trị"])
    communes = ("Xã Mỹ Xương", "Xã Gáo Giồng", "Xã Phương Thịnh")
    for n, commune in enumerate(communes):
        first = 2 + 4 * n
        for i, (criterion, indicator) in enumerate((("8", "8.1"), ("8", "8.2"), ("8", "8.3"), ("13", "13.1"))):
            sheet.append([commune if i == 0 else None, 2024 if i == 0 else None, criterion, indicator, 10 * n + i])
        sheet.merge_cells(f"A{first}:A{first + 3}")
        sheet.merge_cells(f"B{first}:B{first + 3}")


def test_a_commune_merged_over_its_indicator_rows_lands_every_row(dropzone, data_dir, tmp_path):
    outcome = land(dropzone, data_dir, INDICATORS, "ChiTieu_2024.xlsx", workbook_bytes(_merged_form, tmp_path))
    assert (outcome.status, outcome.rows_landed, outcome.rows_quarantined) == ("landed", 12, 0), outcome.reason
    rows = bronze(data_dir, "indicator_values", "unit_name, year, indicator_code, value")
    assert len(rows) == 12 and rows[5] == ("Xã Gáo Giồng", 2024, "8.2", 11.0)
    assert {r[0] for r in rows} == {"Xã Mỹ Xương", "Xã Gáo Giồng", "Xã Phương Thịnh"}


# --- the same workbook as Excel, old Excel and OpenDocument lands the same values -------------------


def _corpus_workbook(book):
    """Percent, date and text-number cells, a hidden sheet and a merged cell, as openpyxl saves them."""
    _percent_sheet(book)
    sheet = book.active
    sheet.title = "Biểu 01"
    sheet.append(["30085", "Xã Ba Sao", "2024", "46,32", "1"])  # numbers stored as text
    hidden = book.create_sheet("Cũ")
    hidden.append(HEADER)
    hidden.sheet_state = "hidden"


RECORDS = ("procedures_total", "full_online_pct", "records_received")


def _dated_workbook(book):
    sheet = book.active
    sheet.append(["Mã hồ sơ", "Đơn vị tiếp nhận", "Mã đơn vị", "Ngày tiếp nhận", "Ngày hẹn trả", "Hình thức nộp"])
    sheet.append(["H-1", "UBND huyện Cao Lãnh", "873", dt.datetime(2024, 1, 27), dt.date(2024, 1, 29), "Trực tuyến"])
    sheet.append(["H-2", "UBND huyện Cao Lãnh", "873", dt.datetime(2024, 1, 4), dt.date(2024, 1, 11), "Trực tiếp"])
    for cell in ("D2", "D3", "E2", "E3"):
        sheet[cell].number_format = "dd/mm/yyyy"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (Debian's libreoffice-calc) not installed")
@pytest.mark.parametrize(
    ("build", "where", "columns"),
    [
        (_corpus_workbook, DIGITAL, "unit_code, year, fixed_broadband_household_pct, mobile_4g5g_household_pct"),
        (_dated_workbook, ("mot-cua-dong-thap", "public_service_records"), "record_id, received_date, due_date"),
    ],
    ids=["percent-text-hidden", "dates"],
)
def test_the_same_workbook_saved_by_libreoffice_as_xls_and_ods_lands_identical_values(tmp_path, build, where, columns):
    original = tmp_path / "HoSo_2024.xlsx"
    original.write_bytes(workbook_bytes(build, tmp_path, "source.xlsx"))
    landed = {}
    for suffix in ("xlsx", "xls", "ods"):
        if suffix == "xlsx":
            path = original
        else:
            out = tmp_path / suffix
            subprocess.run(
                [
                    "soffice",
                    "--headless",
                    f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to",
                    suffix,
                    "--outdir",
                    str(out),
                    str(original),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            path = out / f"HoSo_2024.{suffix}"
        dropzone, data_dir = tmp_path / f"dz-{suffix}", tmp_path / f"data-{suffix}"
        drop(dropzone, *where, path)
        [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
        assert outcome.status == "landed", (suffix, outcome.reason)
        landed[suffix] = bronze(data_dir, where[1], columns, order="_row_number")
    assert landed["xls"] == landed["xlsx"] and landed["ods"] == landed["xlsx"]
    if build is _corpus_workbook:
        assert landed["xlsx"] == [
            ("30121", 2024, 70.1, 98.0),
            ("30079", 2024, 65.0, 100.0),
            ("30082", 2024, 45.25, 99.5),
            ("30085", 2024, 46.32, 1.0),
        ]
    else:
        assert landed["xlsx"] == [
            ("H-1", dt.date(2024, 1, 27), dt.date(2024, 1, 29)),
            ("H-2", dt.date(2024, 1, 4), dt.date(2024, 1, 11)),
        ]


# --- a large workbook is streamed (DuckDB path) and lands what the row path lands ------------------


@pytest.mark.parametrize(
    ("build", "where"),
    [(_corpus_workbook, DIGITAL), (_dated_workbook, ("mot-cua-dong-thap", "public_service_records"))],
    ids=["percent-text-hidden", "dates"],
)
def test_a_streamed_workbook_lands_the_rows_and_notes_of_the_row_path(tmp_path, monkeypatch, build, where):
    content = workbook_bytes(build, tmp_path, "source.xlsx")
    landed = {}
    for kind, threshold in (("rows", "1000"), ("streamed", "0")):
        monkeypatch.setenv("NTM_BULK_WORKBOOK_MB", threshold)
        dropzone, data_dir = tmp_path / kind / "dz", tmp_path / kind / "data"
        [outcome] = [land(dropzone, data_dir, where, "Bieu_2024.xlsx", content)]
        report = dropzone / where[0] / "_reports" / where[1] / "Bieu_2024.xlsx.report.json"
        notes = json.loads(report.read_text(encoding="utf-8"))["notes"] if report.exists() else []
        rows = bronze(data_dir, where[1], "* exclude (_ingested_at, _run_id)", order="_row_number")
        landed[kind] = (outcome.status, outcome.rows_landed, rows, [n["en"] for n in notes])
    assert landed["streamed"] == landed["rows"]
    assert landed["rows"][1] == (4 if build is _corpus_workbook else 2)
