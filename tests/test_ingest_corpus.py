"""A corpus of messy and hostile department files, each with its asserted outcome: the rows that
land with their values, or the exact reason in the report. Files are written by the tests."""

from __future__ import annotations

import io
import json
import os
import unicodedata
import zipfile

import duckdb
import openpyxl
import pytest
from helpers import SAMPLES, drop

from ingest.run import ingest_dropzone

DEPT = "so-khcn-son-la"
DI = "digital_infrastructure"
HEADER = ["Mã xã", "Tên đơn vị", "Năm", "Tỷ lệ hộ có Internet cáp quang (%)", "Số điểm wifi công cộng miễn phí"]
ROWS = [["03664", "Xã Chiềng Xôm", "2023", "46,32", "2"], ["03658", "Xã Chiềng Cọ", "2023", "39,8", "1"]]


def csv_text(header=HEADER, rows=ROWS, sep=";", newline="\n"):
    import csv

    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=newline).writerows([header, *rows])
    return out.getvalue()


def cp1258_bytes(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed, tone marks combining."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out.append(base + "".join(c for c in parts if c in tones))
    return "".join(out).encode("cp1258")


def vni_bytes(text: str) -> bytes:
    from viparse.normalize.encodings import CHARMAPS

    reverse = {uni: legacy for legacy, uni in CHARMAPS["vni"].pairs if len(uni) == 1}
    return "".join(reverse.get(c, c) for c in unicodedata.normalize("NFC", text)).encode("cp1252")


def tcvn3_bytes(text: str) -> bytes:
    from viparse.normalize.encodings import CHARMAPS

    reverse = {uni: legacy for legacy, uni in CHARMAPS["tcvn3"].pairs if len(uni) == 1}
    return "".join(reverse.get(c, c) for c in unicodedata.normalize("NFC", text)).encode("cp1252")


def xlsx_bytes(build) -> bytes:
    wb = openpyxl.Workbook()
    build(wb.active)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    return out.getvalue()


def merged_header_sheet(ws):
    ws.append(["BÁO CÁO HẠ TẦNG SỐ NĂM 2023"])
    ws.append([])
    ws.append(["STT", "Tên đơn vị hành chính", "Mã ĐVHC", "Tỷ lệ hộ gia đình (%)", None])
    ws.append([None, None, None, "Có kết nối Internet băng rộng cố định (cáp quang)", "Có điện thoại thông minh"])
    ws.merge_cells("D3:E3")
    ws.append([1, "Xã Chiềng Xôm", 3664, "46,32", 96.36])  # code as a number, value as text
    ws.append([2, "Xã Chiềng Cọ", "03658", 39.8, "95,02"])
    ws.append([None, "Cộng", None, 43.06, None])


def xls_bytes() -> bytes:
    """The same report-style sheet saved as Excel 97-2003 (.xls), as older office software does."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Biểu 01")
    ws.write(0, 0, "BÁO CÁO HẠ TẦNG SỐ NĂM 2023")
    for col, text in enumerate(["STT", "Tên đơn vị hành chính", "Mã ĐVHC"]):
        ws.write(2, col, text)
    ws.write_merge(2, 2, 3, 4, "Tỷ lệ hộ gia đình (%)")
    ws.write(3, 3, "Có kết nối Internet băng rộng cố định (cáp quang)")
    ws.write(3, 4, "Có điện thoại thông minh")
    for r, row in enumerate(
        [
            [1, "Xã Chiềng Xôm", 3664, "46,32", 96.36],
            [2, "Xã Chiềng Cọ", "03658", 39.8, "95,02"],
            [None, "Cộng", None, 43.06, None],
        ],
        start=4,
    ):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(r, c, v)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def wide_csv() -> bytes:
    return (";".join(HEADER + [f"c{i}" for i in range(100_000)]) + "\n").encode()


# name -> (file name, bytes, expected status, expected landed values or reason fragment)
LANDS = "landed"
CASES = {
    "utf8_bom_semicolons": ("a.csv", b"\xef\xbb\xbf" + csv_text().encode(), LANDS, {"03664": 46.32}),
    "utf8_commas_crlf": ("b.csv", csv_text(sep=",", newline="\r\n").encode(), LANDS, {"03658": 39.8}),
    "utf16_excel_unicode_text": ("c.txt", csv_text(sep="\t").encode("utf-16"), LANDS, {"03664": 46.32}),
    "windows_1258_combining": ("d.csv", cp1258_bytes(csv_text()), LANDS, {"03664": 46.32}),
    "tcvn3": ("e.csv", tcvn3_bytes(csv_text()), LANDS, {"03664": 46.32}),
    "vni": ("f.csv", vni_bytes(csv_text()), LANDS, {"03658": 39.8}),
    "nfd_utf8": ("g.csv", unicodedata.normalize("NFD", csv_text()).encode(), LANDS, {"03664": 46.32}),
    "json_records": (
        "h.json",
        json.dumps([dict(zip(HEADER, r)) for r in ROWS], ensure_ascii=False).encode(),
        LANDS,
        {"03664": 46.32},
    ),
    "json_lines": (
        "i.jsonl",
        "\n".join(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) for r in ROWS).encode(),
        LANDS,
        {"03658": 39.8},
    ),
    "xlsx_merged_header_numbers_as_text": ("j.xlsx", xlsx_bytes(merged_header_sheet), LANDS, {"03664": 46.32}),
    "lost_leading_zero_and_percent_sign": (
        "k.csv",
        csv_text(rows=[["3664", "Chiềng Xôm", "2023", "46,32%", "2"]]).encode(),
        LANDS,
        {"03664": 46.32},
    ),
    "name_only_abbreviated": (
        "l.csv",
        csv_text(rows=[["", "X. Chiềng Cọ", "2023", "39,8", "1"]]).encode(),
        LANDS,
        {"03658": 39.8},
    ),
    "blank_lines_and_total_row": (
        "m.csv",
        (csv_text() + ";Tổng cộng;;43,06;3\n\n\n").encode(),
        LANDS,
        {"03664": 46.32, "03658": 39.8},
    ),
    "empty_file": ("n.csv", b"", "rejected", "The file is empty"),
    "header_without_rows": ("o.csv", csv_text(rows=[]).encode(), "rejected", "no data rows"),
    "binary_junk": ("p.csv", bytes(range(256)) * 64, "rejected", "not text"),
    "unknown_encoding": ("q.csv", bytes(range(0x80, 0x100)) * 64, "rejected", "encoding was not recognised"),
    "duplicate_headers": (
        "r.csv",
        csv_text(header=HEADER + ["Năm"], rows=[r + ["2023"] for r in ROWS]).encode(),
        "rejected",
        "appears twice",
    ),
    "hundred_thousand_columns": ("s.csv", wide_csv(), "rejected", "columns (at most 500)"),
    "ten_megabyte_line": (
        "t.csv",
        csv_text().encode() + b'03664;"' + b"x" * (10 * 1024 * 1024) + b'"\n',
        "rejected",
        "a cell is too long",
    ),
    "xls_excel_97_merged_header": ("j2.xls", xls_bytes(), LANDS, {"03664": 46.32, "03658": 39.8}),
    "text_named_xls": ("v2.xls", csv_text().encode(), "rejected", "not a real Excel file"),
    "zip_bomb_xlsx": ("u.xlsx", zip_bomb(), "rejected", "zip bomb"),
    "text_named_xlsx": ("v.xlsx", csv_text().encode(), "rejected", "not a real Excel file"),
    "unsupported_type": ("w.pdf", b"%PDF-1.4 ...", "rejected", "not supported"),
    "invalid_json": ("x.json", b'[{"M\xc3\xa3 x\xc3\xa3": "03664",', "rejected", "Invalid JSON"),
    "no_matching_header": ("y.csv", b"foo;bar\n1;2\n", "rejected", "No header row"),
    "control_character_in_name": ("bad\x07name.csv", csv_text().encode(), "rejected", "file name"),
    # Each of these once stopped the whole run (issue: one bad file never stops anyone).
    "utf8_bom_over_windows_1258": ("bom.csv", b"\xef\xbb\xbfT\xean,K\xf2\nA,B\n", "rejected", "No header row"),
    "utf16_odd_number_of_bytes": ("odd.csv", b"\xff\xfeA\x00B", "rejected", "cut short"),
    "json_nested_100000_deep": ("deep.json", b"[" * 100_000 + b"]" * 100_000, "rejected", "nested far too deep"),
    "name_of_252_bytes": (
        "Hạ tầng số " * 14 + "x" * (252 - len(("Hạ tầng số " * 14).encode()) - 4) + ".csv",
        csv_text().encode(),
        LANDS,
        {"03664": 46.32, "03658": 39.8},
    ),
}
assert len(CASES["name_of_252_bytes"][0].encode()) == 252
# Rows held back while the rest land: (file, bytes, landed codes, reason fragment in the report)
PARTLY = {
    "formula_cell": (
        "z1.csv",
        csv_text(rows=ROWS + [["03661", '=HYPERLINK("http://x","Chiềng Đen")', "2023", "41,15", "1"]]).encode(),
        {"03664", "03658"},
        "formula",
    ),
    "percent_over_100": (
        "z2.csv",
        csv_text(rows=ROWS + [["03661", "Xã Chiềng Đen", "2023", "146,5", "1"]]).encode(),
        {"03664", "03658"},
        "outside the allowed range",
    ),
    "bad_number": (
        "z3.csv",
        csv_text(rows=ROWS + [["03661", "Xã Chiềng Đen", "2023", "41,1,5", "1"]]).encode(),
        {"03664", "03658"},
        "several commas",
    ),
    "negative_count": (
        "z4.csv",
        csv_text(rows=ROWS + [["03661", "Xã Chiềng Đen", "2023", "41,15", "-1"]]).encode(),
        {"03664", "03658"},
        "outside the allowed range",
    ),
    "duplicate_row": ("z5.csv", csv_text(rows=ROWS + [ROWS[0]]).encode(), {"03664", "03658"}, "Same key as row 2"),
}


def _landed(data_dir):
    rows = duckdb.sql(
        f"select unit_code, fixed_broadband_household_pct from read_parquet("
        f"'{data_dir}/bronze/{DI}/*.parquet', union_by_name=true)"
    ).fetchall()
    return dict(rows)


def _report(dropzone, name):
    from ingest.safety import stored_name

    path = dropzone / DEPT / "_reports" / DI / f"{stored_name(name)}.report.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_corpus_file(case, dropzone, data_dir):
    name, content, status, expected = CASES[case]
    drop(dropzone, DEPT, DI, name=name, content=content)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == status, outcome.reason
    if status == LANDS:
        landed = _landed(data_dir)
        for code, value in expected.items():
            assert landed[code] == value
        assert len(landed) == (
            1 if len(expected) == 1 and case in ("lost_leading_zero_and_percent_sign", "name_only_abbreviated") else 2
        )
    else:
        report = _report(dropzone, name)
        assert expected in report["problems"][0]["en"], report["problems"][0]
        assert report["problems"][0]["vi"] and report["problems"][0]["fix_vi"] and report["problems"][0]["fix_en"]
        assert _landed(data_dir) == {}
        raw = list((data_dir / "raw").rglob("*")) if (data_dir / "raw").exists() else []
        if content:  # the original bytes are kept even when rejected (not for links or unsafe names)
            assert any(p.is_file() and p.read_bytes() == content for p in raw) or case == "control_character_in_name"


@pytest.mark.parametrize("case", sorted(PARTLY))
def test_corpus_rows_held_back(case, dropzone, data_dir):
    name, content, landed_codes, reason = PARTLY[case]
    drop(dropzone, DEPT, DI, name=name, content=content)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "partly_landed" and outcome.rows_quarantined == 1
    assert set(_landed(data_dir)) == landed_codes
    [problem] = _report(dropzone, name)["problems"]
    assert reason in problem["en"] and problem["row"] is not None


def test_symlink_is_rejected_without_being_followed(dropzone, data_dir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text(csv_text())
    folder = dropzone / DEPT / DI
    folder.mkdir(parents=True)
    link = folder / "link.csv"
    link.symlink_to(secret)
    old = link.lstat().st_mtime - 60
    os.utime(link, (old, old), follow_symlinks=False)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and "symbolic link" in outcome.reason
    assert _landed(data_dir) == {}
    assert not (data_dir / "raw").exists() or not any(p.is_file() for p in (data_dir / "raw").rglob("*"))


def test_a_department_cannot_write_another_departments_data(dropzone, data_dir):
    """Two departments of one province send the same unit and year: both land, each under its own
    department (a department of another province cannot send them at all: test_ingest_joints)."""
    drop(dropzone, "so-khcn-son-la", DI, name="a.csv", content=csv_text().encode())
    drop(dropzone, "so-nnmt-son-la", DI, name="a.csv", content=csv_text().encode())
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert [f.status for f in result.files] == ["landed", "landed"]
    rows = duckdb.sql(
        f"select _department, count(*) from read_parquet('{data_dir}/bronze/{DI}/*.parquet', "
        "union_by_name=true) group by 1 order by 1"
    ).fetchall()
    assert rows == [("so-khcn-son-la", 2), ("so-nnmt-son-la", 2)]
    # A corrected file from one department supersedes only that department's file.
    drop(dropzone, "so-khcn-son-la", DI, name="b.csv", content=csv_text(rows=[ROWS[0]]).encode())
    ingest_dropzone(dropzone, data_dir, "r2")
    ledger = duckdb.sql(
        f"select department, file_name, status from '{data_dir}/ledger.parquet' order by 1, 2"
    ).fetchall()
    assert ledger == [
        ("so-khcn-son-la", "a.csv", "superseded"),
        ("so-khcn-son-la", "b.csv", "landed"),
        ("so-nnmt-son-la", "a.csv", "landed"),
    ]


def test_all_bundled_samples_land(tmp_path, data_dir):
    import shutil

    dropzone = tmp_path / "samples"
    shutil.copytree(SAMPLES, dropzone, ignore=shutil.ignore_patterns("_reports"))
    for path in dropzone.rglob("*"):
        os.utime(path, (path.stat().st_mtime - 60,) * 2)
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert result.rejected == []
    by_file = {f.file_name: (f.status, f.rows_landed) for f in result.files}
    assert by_file["to_cns_cong_dong_2023.csv"] == ("landed", 5)  # TCVN3
    assert by_file["DanhGia_TieuChi_NTM_HuyenCaoLanh_2023.csv"] == ("landed", 54)  # Windows-1258
    assert by_file["HoSo_MotCua_Thang01_2024.csv"] == ("landed", 2000)
    assert by_file["SanPham_OCOP_2023.json"] == ("partly_landed", 4)  # one product with 6 stars
    teams = duckdb.sql(
        f"select unit_name, hamlet_name, team_established from read_parquet("
        f"'{data_dir}/bronze/community_digital_teams/*.parquet') order by _row_number"
    ).fetchall()
    assert teams[0] == ("xã Sảng Mộc", "xóm Khuổi Mèn", True)
    records = duckdb.sql(
        f"select * from read_parquet('{data_dir}/bronze/public_service_records/*.parquet') limit 1"
    ).df()
    assert not {"applicant_name", "citizen_id", "phone"} & set(records.columns)  # personal data never stored
