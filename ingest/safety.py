"""Checks a file must pass before any reader opens it: nothing a department (or an attacker)
drops may crash, hang or exhaust the machine. Each failure is a bilingual rejection."""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ingest.formats import STREAMED, SUPPORTED
from ingest.problems import Unreadable
from ntm_core.log import shown

MAX_FILE_BYTES = 8 * 1024**3  # above this, ask for a split file
MAX_XLSX_UNCOMPRESSED = 300 * 1024**2  # a workbook read whole: an Excel form is megabytes, not gigabytes
# A workbook streamed row by row (`.xlsx`/`.xlsm` from NTM_BULK_WORKBOOK_MB): memory stays bounded, so
# only the disk bounds it; a million-row export unpacks to about 500 MB.
MAX_STREAMED_UNCOMPRESSED = 8 * 1024**3
MAX_XLSX_RATIO = 150  # typical sheets compress 5-20x; bombs 1000x
HEAD_CHECKED = 64 * 1024  # the first bytes that tell binary junk and fake Excel files
_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,200}$")


def _reject(vi: str, en: str, fix_vi: str, fix_en: str) -> None:
    raise Unreadable(vi, en, fix_vi, fix_en)


def check_name(name: str) -> None:
    if not _SAFE_NAME.match(name) or name in (".", "..") or ".." in name.split("/"):
        _reject(
            f"Tên tệp '{shown_name(name)}' có ký tự không được phép",
            f"The file name '{shown_name(name)}' has characters that are not allowed",
            "Đặt lại tên tệp chỉ gồm chữ, số, dấu gạch và dấu chấm",
            "Rename the file using letters, digits, dashes and dots only",
        )


# File systems allow 255 bytes per name: a name the pipeline stores (a kept original with its
# `.part` suffix, a report with `.report.html`) keeps room for its suffixes.
STORED_NAME_BYTES = 200


def stored_name(name: str) -> str:
    """`name` as the pipeline stores it: no separators or control characters, no leading dot, at most
    STORED_NAME_BYTES bytes of UTF-8 (a long name keeps its extension)."""
    name = re.sub(r"[/\\\x00-\x1f\x7f]", "_", name).lstrip(".") or "_"
    if len(name.encode()) <= STORED_NAME_BYTES:
        return name
    _, dot, extension = name.rpartition(".")
    suffix = dot + extension if dot and len(extension) <= 10 else ""
    stem = name[: len(name) - len(suffix)]
    budget = STORED_NAME_BYTES - len(suffix.encode())
    return stem.encode()[:budget].decode("utf-8", errors="ignore") + suffix


def shown_name(name: str) -> str:
    """`name` as logs, reports and pages show it: each control or bidirectional character escaped
    (`\\n`, `\\u202e`) and a backslash doubled, so a name can neither forge a line nor pass for
    another name."""
    return shown(name.replace("\\", "\\\\"))


def check_before_reading(path: Path) -> None:
    """What can be told without opening the file: its name, whether it is a real file of its own
    (not a link, a folder or a device), its size. No byte a link points to is read."""
    check_name(path.name)
    status = path.lstat()
    if stat.S_ISLNK(status.st_mode):
        _reject_link(path)
    if stat.S_ISDIR(status.st_mode):
        _reject(
            f"Thư mục con '{shown_name(path.name)}' trong thư mục bộ dữ liệu không được đọc: "
            "các tệp trong đó bị bỏ qua",
            f"The sub-folder '{shown_name(path.name)}' inside the dataset folder is not read: its files were skipped",
            "Đặt các tệp trực tiếp vào thư mục bộ dữ liệu, không trong thư mục con",
            "Put the files directly in the dataset folder, not in a sub-folder",
        )
    if not stat.S_ISREG(status.st_mode):
        _reject(
            "Đây không phải là tệp thông thường (là pipe, socket hoặc thiết bị); không được đọc",
            "This is not a regular file (a pipe, socket or device); it was not read",
            "Chép tệp số liệu thật vào thư mục",
            "Copy the real data file into the folder",
        )
    if status.st_nlink > 1:  # the same bytes under another name, maybe outside the drop zone
        _reject(
            f"Tệp là liên kết cứng (hard link): {status.st_nlink} tên cùng trỏ tới nội dung này; tệp không được đọc",
            f"The file is a hard link: {status.st_nlink} names share its bytes; it was not read",
            "Chép tệp thành một bản riêng (không tạo liên kết) rồi gửi lại",
            "Copy the file as a file of its own (not a link) and drop it again",
        )
    size = status.st_size
    if size == 0:
        _reject("Tệp rỗng", "The file is empty", "Gửi lại tệp có số liệu", "Send the file again with its data")
    if size > MAX_FILE_BYTES:
        _reject(
            "Tệp quá lớn (trên 8 GB)",
            "The file is too large (over 8 GB)",
            "Chia thành các tệp theo tháng",
            "Split it into monthly files",
        )


def _reject_link(path: Path) -> None:
    if path.is_dir():  # what the link points to decides the words only; nothing of it is read
        _reject(
            f"Thư mục '{shown_name(path.name)}' là liên kết (symlink), không phải thư mục thật; "
            "các tệp trong đó không được đọc",
            f"The folder '{shown_name(path.name)}' is a symbolic link, not a real folder; its files were not read",
            "Chép các tệp thật vào một thư mục thật",
            "Copy the real files into a real folder",
        )
    _reject(
        "Tệp là liên kết (symlink), không phải tệp thật; tệp không được đọc",
        "The file is a symbolic link, not a real file; it was not read",
        "Chép tệp thật vào thư mục",
        "Copy the real file into the folder",
    )


# Spreadsheets that are zip archives of XML parts; the kind of file a department knows them as.
ZIP_SPREADSHEETS = {".xlsx": "Excel", ".xlsm": "Excel", ".ods": "OpenDocument"}


def check_content(path: Path) -> None:
    """What the first bytes tell: binary junk, a fake, explosive or linked spreadsheet. A type no
    reader takes is left to the reader, which says so (`readers.read_file`)."""

    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        return
    with open(path, "rb") as f:
        head = f.read(HEAD_CHECKED)
    if suffix in ZIP_SPREADSHEETS:
        _check_zip_spreadsheet(path, head, ZIP_SPREADSHEETS[suffix])
    elif suffix == ".xls":
        if not head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # the OLE2 container of Excel 97-2003
            _reject(
                "Tệp .xls không phải là tệp Excel thật",
                "The .xls file is not a real Excel file",
                "Mở bằng Excel và lưu lại dạng .xlsx",
                "Open it in Excel and save it again as .xlsx",
            )
    elif b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        _reject(
            "Tệp không phải là văn bản (có byte nhị phân)",
            "The file is not text (it has binary bytes)",
            "Xuất lại tệp dạng CSV từ Excel hoặc phần mềm",
            "Export the file again as CSV",
        )


# Control characters no department's text holds (tab, line feed and carriage return are layout).
CONTROL_CHARACTERS = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32), 127]))
_CONTROL_RE = re.compile(f"[{re.escape(CONTROL_CHARACTERS)}]")
_CONTROL_BYTES = CONTROL_CHARACTERS.encode()
_CONTROL_BYTES_RE = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")


def _control_character(code: int, line: int) -> Unreadable:
    return Unreadable(
        f"Dòng {line} của tệp có ký tự điều khiển (mã U+{code:04X}), không phải văn bản",
        f"Line {line} of the file holds a control character (U+{code:04X}), which is not text",
        "Xóa ký tự lạ ở dòng đó (hoặc xuất lại tệp từ phần mềm) rồi gửi lại",
        "Remove the stray character on that line (or export the file again) and drop it again",
    )


def check_control_text(text: str, first_line: int = 1) -> None:
    """A decoded text file (or cell) holds no control characters; the error names the line."""
    if (found := _CONTROL_RE.search(text)) is not None:
        raise _control_character(ord(found.group()), first_line + text.count("\n", 0, found.start()))


_CONTROL_TABLE = np.isin(np.arange(256), list(_CONTROL_BYTES))  # byte -> is a control byte
SCAN_CHUNK = 256 << 10  # numpy's temporaries stay in the cache: 3 GB/s measured, 4x bytes.translate


def first_control_byte(window) -> int | None:
    """Where the first control byte of a UTF-8 (or single-byte legacy) window is, or None. Each
    chunk's bytes below 0x20 are counted and compared with its tabs, line feeds and carriage
    returns, in numpy (no copy of the window, and Python's lock let go while it counts)."""
    data = np.frombuffer(window, np.uint8)
    for start in range(0, len(data), SCAN_CHUNK):
        chunk = data[start : start + SCAN_CHUNK]
        low = np.count_nonzero(chunk < 32) - sum(np.count_nonzero(chunk == c) for c in (9, 10, 13))
        if low or np.count_nonzero(chunk == 127):
            return start + int(np.flatnonzero(_CONTROL_TABLE.take(chunk))[0])
    return None


def control_character_at(path: Path, offset: int) -> Unreadable:
    """The rejection for the control byte at `offset` of a file, naming its line."""
    with open(path, "rb") as f:
        before = f.read(offset)
        code = f.read(1)[0]
    return _control_character(code, before.count(b"\n") + 1)


def _unpacked_limit(path: Path) -> int:
    from ntm_core.settings import bulk_workbook_threshold_bytes

    streamed = path.suffix.lower() in STREAMED and path.stat().st_size >= bulk_workbook_threshold_bytes()
    return MAX_STREAMED_UNCOMPRESSED if streamed else MAX_XLSX_UNCOMPRESSED


def _check_zip_spreadsheet(path: Path, head: bytes, kind: str) -> None:
    suffix = path.suffix.lower()
    if not head.startswith(b"PK"):
        _reject(
            f"Tệp {suffix} không phải là tệp {kind} thật",
            f"The {suffix} file is not a real {kind} file",
            "Mở bằng Excel và lưu lại dạng .xlsx",
            "Open it in Excel and save it again as .xlsx",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unpacked = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if unpacked > _unpacked_limit(path) or unpacked / packed > MAX_XLSX_RATIO:
                _reject(
                    f"Tệp {kind} giải nén ra quá lớn (nghi là tệp nén độc hại)",
                    f"The {kind} file unpacks to far too much data (looks like a zip bomb)",
                    "Gửi tệp Excel bình thường, chỉ gồm biểu mẫu số liệu",
                    "Send an ordinary Excel file with just the form",
                )
            linked = _links_to_programs(archive, infos)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        _reject(
            f"Tệp {kind} bị hỏng",
            f"The {kind} file is damaged",
            "Mở bằng Excel và lưu lại dạng .xlsx",
            "Open it in Excel and save it again as .xlsx",
        )
    if linked:
        _reject(
            "Tệp bảng tính có liên kết ngoài tới chương trình khác (DDE/OLE); không nhận tệp có liên kết ngoài hay DDE",
            "The workbook holds an external link to another program (DDE/OLE); external links and DDE are not accepted",
            "Ngắt các liên kết (Dữ liệu > Sửa liên kết > Ngắt liên kết), lưu lại rồi gửi lại",
            "Break the links (Data > Edit Links > Break Link), save the workbook without them and drop it again",
        )


# A link that makes a spreadsheet program start another program: Excel keeps it in an external-link
# part (`<ddeLink>`, `<oleLink>`), OpenDocument in content.xml (`<table:dde-link>`, `=DDE(...)`).
_LINK_TO_PROGRAM = re.compile(rb"<(?:[\w.-]+:)?(?:ddeLink|oleLink|dde-link|dde-source)\b|\bof:=[^\"<>]{0,1000}\bDDE\(")
_LINK_PARTS = re.compile(r"^(?:xl/externalLinks/[^/]+\.xml|content\.xml)$")
SCAN_OVERLAP = 4096  # a match cut by a chunk's end is found in the next chunk's window


def _links_to_programs(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> bool:
    """Whether the parts that hold links hold one to another program (read in chunks, after the
    zip bomb check bounded how much they unpack to)."""
    for info in infos:
        if not _LINK_PARTS.match(info.filename):
            continue
        with archive.open(info) as part:
            tail = b""
            while chunk := part.read(SCAN_CHUNK):
                if _LINK_TO_PROGRAM.search(tail + chunk):
                    return True
                tail = chunk[-SCAN_OVERLAP:]
    return False


def check_control_cells(rows: list[tuple[int, list[Any]]]) -> None:
    """No text cell of a sheet holds a control character; the error names the row."""
    for number, cells in rows:
        for cell in cells:
            if isinstance(cell, str):
                check_control_text(cell, first_line=number)
