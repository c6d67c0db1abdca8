"""What a department (or anyone who can write to the drop zone) drops is read only when it is a
plain file of its own, in the order it arrived, and every file held back is told why, under a name
nobody can disguise (issue #26)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from helpers import drop, sample

from ingest.run import ingest_dropzone
from ingest.safety import shown_name, stored_name

DEPT, DI = "so-khcn-dong-thap", "digital_infrastructure"
SON_LA = "so-khcn-son-la"


def _age(path: Path, seconds: int = 60) -> None:
    """Date a drop-zone entry back (a link's own time, not its target's), so ingest picks it up."""
    old = path.lstat().st_mtime - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def _ledger(data_dir: Path) -> list[dict]:
    rel = duckdb.sql(f"select * from read_parquet('{data_dir}/ledger.parquet') order by received_at")
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def _bronze(data_dir: Path) -> list[tuple]:
    return duckdb.sql(
        f"select _source_file, unit_code from read_parquet('{data_dir}/bronze/{DI}/*.parquet', union_by_name=true) "
        "order by all"
    ).fetchall()


def _report(dropzone: Path, name: str, department: str = DEPT, dataset: str = DI) -> dict:
    path = dropzone / department / "_reports" / dataset / f"{stored_name(name)}.report.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _raw_holds(data_dir: Path, content: bytes) -> bool:
    raw = data_dir / "raw"
    return raw.exists() and any(p.is_file() and p.read_bytes() == content for p in raw.rglob("*"))


def _unread_key(department: str, dataset: str, name: str) -> str:
    return hashlib.sha256(f"unread:{department}/{dataset}/{name}".encode()).hexdigest()


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file outside the drop zone that would land if it were read (Đồng Tháp's own sample)."""
    path = tmp_path / "outside" / "secret.env"
    path.parent.mkdir()
    path.write_bytes(sample(DEPT, DI).read_bytes())
    return path


def _rejected_unread(dropzone, data_dir, secret, name, dataset=DI, reason="") -> dict:
    """Ingest twice: the entry is rejected once, unread and keyed by its name, then `unchanged`."""
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert (outcome.status, outcome.file_name, outcome.dataset) == ("rejected", name, dataset)
    assert reason in outcome.reason
    report = _report(dropzone, name, dataset=dataset)
    [problem] = report["problems"]
    assert reason in problem["en"] and problem["vi"] and problem["fix_vi"] and problem["fix_en"]
    assert report["status"] == "rejected" and report["sha256"] == _unread_key(DEPT, dataset, name)
    [entry] = _ledger(data_dir)
    assert (entry["status"], entry["file_name"], entry["sha256"]) == (
        "rejected",
        name,
        _unread_key(DEPT, dataset, name),
    )
    assert entry["raw_path"] is None and reason in entry["reason"]
    assert entry["sha256"] != hashlib.sha256(secret.read_bytes()).hexdigest()  # never hashed
    assert not _raw_holds(data_dir, secret.read_bytes())
    assert not (data_dir / "bronze" / DI).exists() or _bronze(data_dir) == []
    written = (dropzone / DEPT / "_reports" / dataset / f"{stored_name(name)}.report.json").stat().st_mtime_ns
    # Exactly once: the next run says `unchanged`, writes no report and no ledger entry.
    [again] = ingest_dropzone(dropzone, data_dir, "r2").files
    assert again.status == "unchanged"
    assert len(_ledger(data_dir)) == 1
    assert (dropzone / DEPT / "_reports" / dataset / f"{stored_name(name)}.report.json").stat().st_mtime_ns == written
    return report


# 1. Links and folders


def test_a_hard_linked_file_is_reported_and_none_of_its_bytes_kept(dropzone, data_dir, secret):
    folder = dropzone / DEPT / DI
    folder.mkdir(parents=True)
    link = folder / "HaTangSo_2019.csv"
    os.link(secret, link)
    _age(link)
    report = _rejected_unread(dropzone, data_dir, secret, "HaTangSo_2019.csv", reason="hard link")
    assert "2 names share its bytes" in report["problems"][0]["en"]


def test_a_symbolic_link_to_a_file_is_reported_once_and_not_followed(dropzone, data_dir, secret):
    folder = dropzone / DEPT / DI
    folder.mkdir(parents=True)
    link = folder / "HaTangSo_2019.csv"
    link.symlink_to(secret)
    _age(link)
    _rejected_unread(dropzone, data_dir, secret, "HaTangSo_2019.csv", reason="symbolic link")


def test_a_dataset_folder_that_is_a_link_is_reported_under_its_name(dropzone, data_dir, secret):
    (dropzone / DEPT).mkdir()
    link = dropzone / DEPT / DI
    link.symlink_to(secret.parent, target_is_directory=True)
    _age(link)
    report = _rejected_unread(
        dropzone, data_dir, secret, DI, reason="The folder 'digital_infrastructure' is a symbolic"
    )
    assert "its files were not read" in report["problems"][0]["en"]
    assert [p.name for p in secret.parent.iterdir()] == ["secret.env"]  # nothing written through the link


def test_a_sub_folder_is_reported_and_the_files_beside_it_still_land(dropzone, data_dir, secret):
    sub = dropzone / DEPT / DI / "2019"
    sub.mkdir(parents=True)
    (sub / "HaTangSo_2019.csv").write_bytes(secret.read_bytes())
    _age(sub / "HaTangSo_2019.csv")
    _age(sub)
    beside = drop(dropzone, DEPT, DI, sample(DEPT, DI))
    _age(beside, 120)  # arrived first
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert [(f.file_name, f.status) for f in result.files] == [(beside.name, "landed"), ("2019", "rejected")]
    [problem] = _report(dropzone, "2019")["problems"]
    assert problem["en"] == "The sub-folder '2019' inside the dataset folder is not read: its files were skipped"
    assert {source for source, _ in _bronze(data_dir)} == {beside.name}
    rejected = next(e for e in _ledger(data_dir) if e["file_name"] == "2019")
    assert rejected["status"] == "rejected" and rejected["sha256"] == _unread_key(DEPT, DI, "2019")
    assert [f.status for f in ingest_dropzone(dropzone, data_dir, "r2").files] == ["unchanged", "unchanged"]
    assert len(_ledger(data_dir)) == 2


def test_a_department_folder_that_is_a_link_is_logged_and_nothing_read(dropzone, data_dir, secret, capsys):
    outside = secret.parent / "tree"
    (outside / DI).mkdir(parents=True)
    (outside / DI / "HaTangSo_2019.csv").write_bytes(secret.read_bytes())
    _age(outside / DI / "HaTangSo_2019.csv")
    (dropzone / DEPT).symlink_to(outside, target_is_directory=True)
    assert ingest_dropzone(dropzone, data_dir, "r1").files == []
    log = capsys.readouterr().err
    assert f"ingest: {DEPT}/: the department folder is a symbolic link: not followed" in log
    assert not (outside / "_reports").exists()  # no report written through the link
    assert not _raw_holds(data_dir, secret.read_bytes()) and _ledger(data_dir) == []


def test_a_pipe_is_reported_without_being_opened(dropzone, data_dir):
    folder = dropzone / DEPT / DI
    folder.mkdir(parents=True)
    os.mkfifo(folder / "dang_chep.csv")  # opening it would wait for a writer forever
    _age(folder / "dang_chep.csv")
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and "not a regular file" in outcome.reason
    assert "not a regular file" in _report(dropzone, "dang_chep.csv")["problems"][0]["en"]


# 3. Names that cannot forge a log line or pass for another name


def test_shown_name_makes_control_and_bidirectional_characters_visible():
    assert shown_name("a\nb.csv") == "a\\nb.csv"
    assert shown_name("bad\x07\r\t.csv") == "bad\\x07\\r\\t.csv"
    assert shown_name("hoa_don\u202egpj.csv") == "hoa_don\\u202egpj.csv"
    assert shown_name("\u200e\u200f\u061c\u2066\u2069\u202a") == "\\u200e\\u200f\\u061c\\u2066\\u2069\\u202a"
    assert shown_name("x\u2028y\x85\udcff") == "x\\u2028y\\x85\\udcff"
    assert shown_name("a\\nb.csv") == "a\\\\nb.csv"  # a real backslash cannot pass for an escape
    assert shown_name("Hạ tầng số 2023 (bản cuối).xlsx") == "Hạ tầng số 2023 (bản cuối).xlsx"


def test_a_name_with_a_line_break_cannot_forge_a_log_line(dropzone, data_dir, capsys):
    name = "a.csv: landed\n[00:00:00] ingest: gia.csv"
    drop(dropzone, DEPT, DI, name=name, content=sample(DEPT, DI).read_bytes())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and outcome.file_name == name
    lines = capsys.readouterr().err.splitlines()
    assert not any(line.startswith("[00:00:00]") for line in lines)
    [line] = [line for line in lines if "gia.csv" in line]
    assert f"{DEPT}/{DI}/a.csv: landed\\n[00:00:00] ingest: gia.csv: rejected — " in line and line.endswith(
        f"— Tên tệp '{shown_name(name)}' có ký tự không được phép / "
        f"The file name '{shown_name(name)}' has characters that are not allowed"
    )
    report = _report(dropzone, name)
    assert report["file"] == shown_name(name)
    assert shown_name(name) in report["problems"][0]["en"]
    html = (dropzone / DEPT / "_reports" / DI / f"{stored_name(name)}.report.html").read_text(encoding="utf-8")
    assert "a.csv: landed\\n[00:00:00]" in html and "\n[00:00:00]" not in html


def test_a_bidirectional_name_is_shown_escaped_in_the_log_the_report_and_the_check(dropzone, data_dir, capsys):
    from ingest.check import check_file, render

    name = "bao_cao\u202evsc.exe.csv"  # shows as "bao_caoexe.csv" reversed: a disguise
    path = drop(dropzone, DEPT, DI, name=name, content="Mã xã;Tên đơn vị;Năm\n".encode())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected"
    assert "bao_cao\\u202evsc.exe.csv: rejected" in capsys.readouterr().err
    assert _report(dropzone, name)["file"] == "bao_cao\\u202evsc.exe.csv"
    html = (dropzone / DEPT / "_reports" / DI / f"{stored_name(name)}.report.html").read_text(encoding="utf-8")
    assert "bao_cao\\u202evsc.exe.csv" in html and "\u202e" not in html
    shown = render(check_file(path, DI, DEPT))
    assert "bao_cao\\u202evsc.exe.csv" in shown and "\u202e" not in shown


def test_log_indents_a_messages_further_lines_and_escapes_the_rest(capsys):
    from ntm_core.log import log

    log("ingest: x: could not be read:\nTraceback\n[12:00:00] forged\x1b[2K\u202e")
    err = capsys.readouterr().err
    assert err.endswith("could not be read:\n    Traceback\n    [12:00:00] forged\\x1b[2K\\u202e\n")


# 4. Arrival order


def test_of_two_copies_the_first_to_arrive_is_the_original(dropzone, data_dir):
    content = sample(DEPT, DI).read_bytes()
    later = drop(dropzone, DEPT, DI, name="a_ban_sao.csv", content=content)
    first = drop(dropzone, DEPT, DI, name="z_ban_goc.csv", content=content)
    _age(first, 600)
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert [(f.file_name, f.status) for f in result.files] == [(first.name, "landed"), (later.name, "duplicate")]
    assert {source for source, _ in _bronze(data_dir)} == {first.name}
    duplicate = next(e for e in _ledger(data_dir) if e["file_name"] == later.name)
    assert (duplicate["status"], duplicate["reason"]) == ("duplicate", f"same content as {first.name}")


def test_files_of_the_same_time_are_taken_in_name_order(dropzone, data_dir):
    content = sample(DEPT, DI).read_bytes()
    paths = [drop(dropzone, DEPT, DI, name=n, content=content) for n in ("b.csv", "a.csv")]
    for path in paths:
        os.utime(path, ns=(1_700_000_000_000_000_000,) * 2)
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert [(f.file_name, f.status) for f in result.files] == [("a.csv", "landed"), ("b.csv", "duplicate")]


# 5. Reasons that say what is wrong


def _workbook(build=None) -> bytes:
    book = openpyxl.Workbook()
    (build or (lambda ws: ws.append(["Mã xã", "Tên đơn vị", "Năm"])))(book.active)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_part(archive: bytes, name: str, data: bytes, change: dict[str, tuple[bytes, bytes]] | None = None) -> bytes:
    """A zip with one part added and some parts' text replaced ({part: (old, new)})."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            old, new = (change or {}).get(info.filename, (b"", b""))
            target.writestr(info.filename, source.read(info.filename).replace(old, new) if old else source.read(info))
        target.writestr(name, data)
    return out.getvalue()


def dde_workbook() -> bytes:
    """A workbook whose cell =cmd|' /C calc'!A0 starts a program: Excel keeps the DDE link as an
    external-link part with no relationship of its own (openpyxl cannot open such a file)."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLink"
    return _with_part(
        _workbook(),
        "xl/externalLinks/externalLink1.xml",
        b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<ddeLink ddeService="cmd" ddeTopic=" /C calc"><ddeItems><ddeItem name="A0" advise="1"/></ddeItems>'
        b"</ddeLink></externalLink>",
        {
            "xl/workbook.xml": (
                b"</sheets>",
                b'</sheets><externalReferences><externalReference r:id="rId9"/></externalReferences>',
            ),
            "xl/_rels/workbook.xml.rels": (
                b"</Relationships>",
                f'<Relationship Type="{rel}" Target="externalLinks/externalLink1.xml" Id="rId9"/>'
                "</Relationships>".encode(),
            ),
        },
    )


def dde_ods() -> bytes:
    """An OpenDocument spreadsheet with a DDE link, which LibreOffice keeps at the end of content.xml
    (here past the first chunk the check reads)."""
    rows = "".join(
        f"<table:table-row><table:table-cell><text:p>{hashlib.sha256(str(i).encode()).hexdigest()}</text:p>"
        "</table:table-cell></table:table-row>"
        for i in range(5000)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
            f'<table:table table:name="Sheet1">{rows}</table:table>'
            '<table:dde-links><table:dde-link><office:dde-source office:dde-application="cmd" '
            'office:dde-topic="/C calc" office:dde-item="A0"/></table:dde-link></table:dde-links>'
            "</office:spreadsheet></office:body></office:document-content>",
        )
    return out.getvalue()


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    return out.getvalue()


THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 16  # Windows' thumbnail cache (OLE2)


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("Thumbs.db", THUMBS_DB, "File type '.db' is not supported"),
        ("HaTangSo.xlsb", _workbook(), "File type '.xlsb' is not supported"),
        ("ghi_chu", b"\x00\x01 notes", "File type '' is not supported"),
        ("lien_ket.xlsx", dde_workbook(), "external link to another program (DDE/OLE)"),
        ("lien_ket.xlsm", dde_workbook(), "external link to another program (DDE/OLE)"),
        ("lien_ket.ods", dde_ods(), "external link to another program (DDE/OLE)"),
        ("bom.xlsm", zip_bomb(), "looks like a zip bomb"),
        ("bom.ods", zip_bomb(), "looks like a zip bomb"),
        ("van_ban.xlsm", b"Ma xa;Nam\n1;2\n", "The .xlsm file is not a real Excel file"),
        ("van_ban.ods", b"Ma xa;Nam\n1;2\n", "The .ods file is not a real OpenDocument file"),
        ("hong.ods", b"PK\x03\x04 cut short", "The OpenDocument file is damaged"),
    ],
)
def test_a_file_held_back_is_told_what_is_wrong_with_it(dropzone, data_dir, name, content, reason):
    drop(dropzone, DEPT, DI, name=name, content=content)
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    assert outcome.status == "rejected" and reason in outcome.reason
    [problem] = _report(dropzone, name)["problems"]
    assert reason in problem["en"] and "not text" not in problem["en"]
    assert problem["vi"] and problem["fix_vi"] and problem["fix_en"]
    [entry] = _ledger(data_dir)
    assert entry["status"] == "rejected" and entry["reason"] == outcome.reason
    assert _raw_holds(data_dir, content)  # read, so kept as received


def test_a_dde_workbook_is_not_called_damaged(dropzone, data_dir):
    drop(dropzone, DEPT, DI, name="lien_ket.xlsx", content=dde_workbook())
    [outcome] = ingest_dropzone(dropzone, data_dir, "r1").files
    [problem] = _report(dropzone, "lien_ket.xlsx")["problems"]
    assert "damaged" not in problem["en"] and "DDE" in problem["en"] and "Break the links" in problem["fix_en"]


def test_ordinary_workbooks_still_land(dropzone, data_dir):
    header = ["Mã xã", "Tên đơn vị", "Năm", "Tỷ lệ hộ có Internet cáp quang (%)"]
    for year, suffix in ((2023, ".xlsx"), (2024, ".xlsm")):
        rows = [header, ["30076", "Thị trấn Mỹ Thọ", year, 91.25]]
        book = _workbook(lambda ws, rows=rows: [ws.append(r) for r in rows])
        drop(dropzone, DEPT, DI, name=f"HaTangSo{suffix}", content=book)
    result = ingest_dropzone(dropzone, data_dir, "r1")
    assert [(f.file_name, f.status) for f in result.files] == [("HaTangSo.xlsx", "landed"), ("HaTangSo.xlsm", "landed")]
    assert _bronze(data_dir) == [("HaTangSo.xlsm", "30076"), ("HaTangSo.xlsx", "30076")]


@pytest.mark.parametrize("cut", [-9, -1, 0, 5])
def test_a_dde_link_cut_by_a_chunks_end_is_found(tmp_path, cut):
    from ingest.problems import Unreadable
    from ingest.safety import SCAN_CHUNK, check_content

    link = b'<table:dde-link><office:dde-source office:dde-application="cmd"/></table:dde-link>'
    filler = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(SCAN_CHUNK // 32))
    path = tmp_path / "cat.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("content.xml", filler[: SCAN_CHUNK + cut] + link)
    with pytest.raises(Unreadable, match="DDE"):
        check_content(path)


def test_a_dde_formula_in_an_opendocument_sheet_is_found(tmp_path):
    from ingest.problems import Unreadable
    from ingest.safety import check_content

    path = tmp_path / "cong_thuc.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "content.xml",
            '<table:table-cell table:formula="of:=1+DDE(&quot;cmd&quot;;&quot;/C calc&quot;;&quot;A0&quot;)"/>',
        )
    with pytest.raises(Unreadable, match="DDE"):
        check_content(path)
