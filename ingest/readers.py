"""Turn a department's file into rows of raw cells, whatever its format or encoding.

Every reader yields `(row_number, cells)` where row_number is what the department sees
(the Excel row, the CSV line) so that reports can point at it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.formats import MAX_COLUMNS, SUPPORTED, WORKBOOKS, RawTable
from ingest.problems import Unreadable
from ingest.safety import check_control_text
from ingest.values import nfc
from ingest.workbooks import read_workbook

# Characters read to tell an encoding by its letters, and to tell the delimiter and the best legacy reading.
ENCODING_SAMPLE = 200_000
DELIMITER_SAMPLE = 20_000


# Bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) read as their Latin-1 selves.
codecs.register_error("latin1_fallback", lambda err: (err.object[err.start : err.end].decode("latin-1"), err.end))


def _vietnamese_letters() -> frozenset[str]:
    letters = set("đĐ")
    for base in "aăâeêioôơuưy":
        for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):
            ch = unicodedata.normalize("NFC", base + tone)
            letters.update({ch, ch.upper()})
    return frozenset(c for c in letters if not c.isascii())


VIETNAMESE_LETTERS = _vietnamese_letters()


# Characters Vietnamese text may hold beyond its letters and ASCII.
_TYPOGRAPHY = "\ufeff\u00a0–—“”‘’…•"
_VIETNAMESE_LETTER = re.compile(f"[{''.join(sorted(VIETNAMESE_LETTERS))}]")
_OTHER_NON_ASCII = re.compile(f"[^\\x00-\\x7f{''.join(sorted(VIETNAMESE_LETTERS))}{_TYPOGRAPHY}]")


def _legacy_score(text: str) -> tuple[int, int]:
    """(Vietnamese letters, characters no Vietnamese text has): legacy bytes read as Unicode
    show up as symbols and foreign letters (`x· S¶ng Méc`)."""
    sample = text[:ENCODING_SAMPLE]
    viet = len(_VIETNAMESE_LETTER.findall(sample))
    alien = sum(not unicodedata.combining(c) for c in _OTHER_NON_ASCII.findall(sample))
    return viet, alien


def _is_clean(score: tuple[int, int]) -> bool:
    viet, alien = score
    return alien <= max(2, viet // 50)


LEGACY_ENCODINGS = ("tcvn3", "vni")


def _legacy_reading(surface: str, name: str) -> str:
    from viparse.normalize.encodings import CHARMAPS
    from viparse.normalize.tables import convert

    return convert(surface, CHARMAPS[name])


UNICODE_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16")


def _letters_look_legacy(clean: dict[str, str], scores: dict[str, tuple[int, int]], unicode_name: str) -> bool:
    """Whether a clean legacy reading (`clean`) of the bytes yields more Vietnamese letters than their
    Unicode reading: the letters themselves were typed in TCVN3 or VNI (`x· S¶ng Méc`)."""
    return any(scores[name][0] > scores[unicode_name][0] for name in clean)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 (Excel's 'Unicode text') or
    Windows-1258, or convert legacy TCVN3 (ABC) / VNI text; the result is NFC.

    The legacy encodings are decided per file: each reading is scored by how many Vietnamese
    letters it yields against characters no Vietnamese text has, and a reading is taken only
    when it is clean. Bytes that are valid Unicode are read as Unicode unless a clean legacy
    reading gives more Vietnamese letters. A file that no reading makes clean is rejected, not
    guessed."""
    readings: dict[str, str] = {}
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            readings["utf-8-sig"] = data[3:].decode("utf-8")
        except UnicodeDecodeError:
            data = data[3:]  # a UTF-8 mark over bytes that are not UTF-8: the mark lied, read the rest
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            readings["utf-16"] = data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise Unreadable(
                "Tệp UTF-16 bị cắt cụt hoặc hỏng (số byte lẻ)",
                "The UTF-16 file is cut short or damaged (an odd number of bytes)",
                "Lưu lại tệp từ Excel dạng CSV UTF-8 rồi gửi lại",
                "Save the file again from Excel as CSV UTF-8 and drop it again",
            ) from err
    elif not readings:
        try:
            readings["utf-8"] = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                readings["cp1258"] = data.decode("cp1258")
            except UnicodeDecodeError:
                pass
    # Legacy tables are keyed on the characters Windows-1252 shows for the bytes.
    surface = (
        readings.get("utf-8")
        or readings.get("utf-8-sig")
        or readings.get("utf-16")
        or data.decode("cp1252", errors="latin1_fallback")
    )
    # Every reading is judged on the file's first ENCODING_SAMPLE characters; only the one chosen is
    # converted whole (a legacy table over a whole file costs more than the rest of its reading).
    samples = {name: nfc(text[:ENCODING_SAMPLE]) for name, text in readings.items()}
    scores = {name: _legacy_score(sample) for name, sample in samples.items()}
    # A clean Unicode (or Windows-1258) reading is never second-guessed: legacy tables would corrupt
    # good text, so they are not even tried.
    best = next((name for name in readings if _is_clean(scores[name])), None)
    if best is None:
        best = _best_legacy(readings, samples, scores, surface)
    whole = readings[best] if best in readings else _legacy_reading(surface, best)
    return nfc(whole), best


def _best_legacy(
    readings: dict[str, str], samples: dict[str, str], scores: dict[str, tuple[int, int]], surface: str
) -> str:
    """The legacy encoding a file with no clean Unicode reading is in, or its Unicode reading when
    that has a few characters no Vietnamese text has but no legacy table gives more letters."""
    from viparse.normalize.frequency import vietnamese_score

    for name in LEGACY_ENCODINGS:
        samples[name] = nfc(_legacy_reading(surface[:ENCODING_SAMPLE], name))
        scores[name] = _legacy_score(samples[name])
    clean = {name: samples[name] for name in LEGACY_ENCODINGS if _is_clean(scores[name])}
    unicode_name = next((n for n in UNICODE_ENCODINGS if n in readings), None)
    if unicode_name and not _letters_look_legacy(clean, scores, unicode_name):
        # Valid Unicode with a few characters no Vietnamese text has (full-width digits, Chinese, an
        # emoji) is Unicode: a legacy table is trusted over it only when it gives more Vietnamese letters.
        return unicode_name
    if not clean:
        raise Unreadable(
            "Không nhận ra bảng mã tiếng Việt của tệp (không phải Unicode, TCVN3 hay VNI)",
            "The file's Vietnamese encoding was not recognised (not Unicode, TCVN3 or VNI)",
            "Mở tệp bằng Excel và lưu lại dạng CSV UTF-8 (Lưu thành > CSV UTF-8)",
            "Open the file in Excel and save it again as CSV UTF-8 (Save As > CSV UTF-8)",
        )
    # Several legacy readings can be clean (a TCVN3 reading of VNI bytes is made of real letters
    # too): the one that reads most like Vietnamese wins.
    return max(clean, key=lambda n: vietnamese_score(clean[n][:DELIMITER_SAMPLE]))


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_score = ",", -1
    for delim in (",", ";", "\t", "|"):
        counts = [len(next(csv.reader([line], delimiter=delim))) for line in lines]
        if not counts:
            continue
        # The delimiter that splits most lines into the same number (> 1) of fields: lines it does
        # not split at all do not count (one '46,32' in a ';' file made ',' win).
        score = max((counts.count(n) for n in set(counts) if n > 1), default=0)
        if score > best_score or (score == best_score and max(counts) > 1 and delim == ";"):
            best, best_score = delim, score
    return best


MAX_CELL_CHARS = 1024 * 1024
csv.field_size_limit(MAX_CELL_CHARS)


def read_csv(path: Path) -> RawTable:
    text, _ = decode_text(path.read_bytes())
    check_control_text(text)
    delimiter = _sniff_delimiter(text[:DELIMITER_SAMPLE])
    rows = list(csv_records(io.StringIO(text, newline=""), delimiter))
    return RawTable(rows=rows, merged=[])


def csv_records(stream, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(record number, cells) of a CSV text stream, refusing a row wider than MAX_COLUMNS or a cell
    longer than MAX_CELL_CHARS, naming its line. A row's number is its record's, as a spreadsheet
    counts rows: a cell with a line break inside quotes does not push the rows after it down."""
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if len(cells) > MAX_COLUMNS:
                raise Unreadable(
                    f"Dòng {reader.line_num} có {len(cells)} cột (tối đa {MAX_COLUMNS})",
                    f"Line {reader.line_num} has {len(cells)} columns (at most {MAX_COLUMNS})",
                    "Kiểm tra dấu phân cách cột và xóa các cột thừa",
                    "Check the column separator and remove the extra columns",
                )
            yield number, cells
    except csv.Error as err:
        raise Unreadable(
            f"Dòng {reader.line_num} không đọc được: có ô quá dài hoặc dấu ngoặc kép không đóng",
            f"Line {reader.line_num} cannot be read: a cell is too long or a quote is not closed",
            "Kiểm tra dấu ngoặc kép trong tệp; mỗi ô không quá 1 MB",
            "Check the quotes in the file; no cell may exceed 1 MB",
        ) from err


def check_csv_stream(path: Path, delimiter: str) -> None:
    """Read a UTF-8 CSV record by record, as the row path would, raising what it would raise
    (a large file's reader failed: this names the line for the department)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for _ in csv_records(f, delimiter):
            pass


def read_json(path: Path) -> RawTable:
    text, _ = decode_text(path.read_bytes())
    check_control_text(text)
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            records = (
                data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [data])
            )
    except json.JSONDecodeError as err:
        raise Unreadable(
            f"JSON không hợp lệ (dòng {err.lineno})",
            f"Invalid JSON (line {err.lineno})",
            "Kiểm tra lại cú pháp JSON",
            "Check the JSON syntax",
        ) from err
    except RecursionError as err:
        raise Unreadable(
            "JSON lồng quá sâu",
            "The JSON is nested far too deep",
            'Gửi một mảng các bản ghi phẳng: [{"Tên đơn vị": ..., "Năm": ...}, ...]',
            'Send an array of flat records: [{"Tên đơn vị": ..., "Năm": ...}, ...]',
        ) from err
    header: list[str] = []
    for record in records:
        for key in record if isinstance(record, dict) else []:
            if key not in header:
                header.append(key)
    # Row numbers are record numbers (1 = the first record); the header is row 0.
    rows = [(0, header)] + [
        (i, [r.get(k) for k in header]) for i, r in enumerate(records, start=1) if isinstance(r, dict)
    ]
    return RawTable(rows=rows, merged=[])


def read_csv_head(
    text: str, delimiter: str, lines_read: int | None = 60, whole_file: bool = False
) -> list[tuple[int, list[str]]]:
    """The first lines of a large CSV, to find its header (unless the text is the whole file, its
    last line, maybe cut, is dropped)."""
    lines = text.splitlines() if whole_file else text.splitlines()[:-1] or text.splitlines()
    reader = csv.reader(io.StringIO("\n".join(lines[:lines_read]), newline=""), delimiter=delimiter)
    return list(enumerate(reader, start=1))


def read_file(path: Path) -> list[RawTable]:
    """The file's tables: one for CSV and JSON, one per sheet for a workbook."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(
            f"Định dạng tệp '{suffix}' không được hỗ trợ",
            f"File type '{suffix}' is not supported",
            "Gửi tệp CSV, Excel (.xlsx, .xls), OpenDocument (.ods) hoặc JSON",
            "Send a CSV, Excel (.xlsx, .xls), OpenDocument (.ods) or JSON file",
        )
    if suffix in WORKBOOKS:
        return read_workbook(path)
    if suffix in (".json", ".jsonl"):
        return [read_json(path)]
    return [read_csv(path)]


def iter_nonempty(rows: list[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    for number, cells in rows:
        if any(c not in (None, "") and str(c).strip() for c in cells):
            yield number, cells
