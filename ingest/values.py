"""Reading Vietnamese-formatted cell values: `46,32`, `46,32%`, `1.797`, `Năm 2023`, `-`, blank.

Each parser takes the raw cell (text, number or None) and returns the typed value, or raises
`BadValue` with a bilingual reason and fix. `None` means "no data" (blank or `-`), never zero.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Marks of "no data" (compared case-folded); the dash also as the full-width form and the minus sign.
NO_DATA = {"", "-", "--", "–", "—", "\uff0d", "\u2212", "n/a", "na", "không có số liệu", "chưa có số liệu"}


@dataclass
class BadValue(Exception):
    vi: str
    en: str
    fix_vi: str
    fix_en: str


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Matching key: case-folded, without diacritics (đ → d), punctuation and extra spaces."""
    return _fold(str(text))


# Headers and unit names repeat from file to file and row to row: a run folds the same few thousand
# strings again and again (locating a header folds every alias against every cell of the top rows).
@functools.lru_cache(maxsize=1 << 16)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("đ", "d").replace("Đ", "D").casefold()
    return " ".join(_WORD_RE.findall(stripped))


_WORD_RE = re.compile(r"[a-z0-9]+")


class PercentCell(float):
    """A number a spreadsheet showed as a percentage (Excel's `0.00%`, LibreOffice's percentage type):
    its value is the fraction (0.701 shown as 70,10 %). A percent column reads it as 70.1."""


# Minus signs and spaces of other Unicode forms that NFKC leaves alone.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-"})


def digits_form(text: str) -> str:
    """A number's text with its digits, signs and separators in ASCII (full-width `４１２`, `－5`)
    and no spaces of any kind (non-breaking, thin, narrow): what a spreadsheet shows as the number."""
    return "".join(unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS).split())


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, float) and raw != raw:  # NaN
        return None
    text = nfc(str(raw)).strip()
    return None if text.casefold() in NO_DATA else text


_NUMBER_RE = re.compile(r"^[+-]?[\d.,\s]+$")

# A column's decimal mark, decided per file (`decimal_mark`): Vietnamese files write 46,32 and
# 1.797 (COMMA); some exports write 46.32 and 1,797 (DOT).
COMMA, DOT = "comma", "dot"


def _number_text(raw: Any) -> str | None:
    text = _text(raw)
    return None if text is None else digits_form(text).removesuffix("%")


def decimal_evidence(raw: Any) -> str | None:
    """The decimal mark a cell can only have been written with, or None when it could be either
    (`1.797`, `12.500`, `1,797`, whole numbers) or is not a number. `0.125` and `98.9` are DOT,
    `46,32` and `1.797,5` COMMA, `1.797.000` COMMA (dots group thousands), `1,797.5` DOT."""
    if isinstance(raw, (int, float)) or not isinstance(raw, str):
        return None
    text = _number_text(raw)
    if not text or not _NUMBER_RE.match(text):
        return None
    digits = text.lstrip("+-")
    if not any(c.isdigit() for c in digits):
        return None
    if "," in digits and "." in digits:
        return COMMA if digits.rfind(",") > digits.rfind(".") else DOT
    for mark, other in ((",", DOT), (".", COMMA)):
        if mark not in digits:
            continue
        groups = digits.split(mark)
        if len(groups) > 2:  # the mark groups thousands, so the other mark is the decimal one
            return other if all(len(g) == 3 for g in groups[1:]) and groups[0] else None
        whole, fraction = groups
        if len(fraction) != 3 or whole in ("", "0"):
            return COMMA if mark == "," else DOT
    return None


def _grouped(text: str) -> bool:
    """Whether a number groups thousands ('1.797,5', '1,797,000'): it shows a whole convention."""
    return ("," in text and "." in text) or text.count(",") > 1 or text.count(".") > 1


def decimal_votes(cells) -> dict[str, int]:
    """How many cells can only have been written with each decimal mark."""
    votes = {COMMA: 0, DOT: 0}
    for cell in cells:
        if (evidence := decimal_evidence(cell)) is not None:
            votes[evidence] += 1
    return votes


# A number cell's shape: its digits 1-9 written as 1. `decimal_evidence` looks only at the marks, the
# lengths of the digit groups and whether the whole part is "0", so a cell and its shape give the
# same evidence (tests/test_values.py), and a column of millions of numbers has a few hundred shapes.
# A cell without a mark gives none. The bulk path counts shapes in Arrow (`ingest.bulk_rows`).
SHAPE_DIGITS, SHAPE_DIGIT, SHAPE_MARKS = "[1-9]", "1", "[.,]"


def number_shape(cell: str) -> str:
    return re.sub(SHAPE_DIGITS, SHAPE_DIGIT, cell)


def votes_of_shapes(shapes: dict[str, int]) -> dict[str, int]:
    """decimal_votes of the cells these shapes (shape -> how many cells) stand for."""
    votes = {COMMA: 0, DOT: 0}
    for shape, count in shapes.items():
        if (evidence := decimal_evidence(shape)) is not None:
            votes[evidence] += count
    return votes


def decimal_mark(cells) -> str:
    """The decimal mark of cells (a file's number columns), from the unambiguous ones: the mark most
    of them use (a tie, or no evidence, keeps the Vietnamese comma). Cells that use the other are
    then errors."""
    return convention(decimal_votes(cells))


def convention(votes: dict[str, int]) -> str:
    return DOT if votes[DOT] > votes[COMMA] else COMMA


def parse_number(raw: Any, decimal: str = COMMA) -> float | None:
    """Numbers in the file's convention for the column (`decimal`): with COMMA (Vietnamese), `1.797`
    is 1797 and `46,32` is 46.32; with DOT, `1,797` is 1797 and `46.32` is 46.32. A cell grouped
    the other way (`1,797.5` with COMMA) contradicts the file: an error, never reinterpreted. A plain
    decimal written the other way (`98.9` with COMMA) has one reading only and is read so."""
    if isinstance(raw, PercentCell):
        raise BadValue(
            f"Ô định dạng phần trăm ({raw:.2%}) trong cột không phải tỷ lệ",
            f"A percentage-formatted cell ({raw:.2%}) in a column that is not a percentage",
            "Đổi định dạng ô sang Số (Number) và nhập giá trị đúng đơn vị của cột",
            "Format the cell as Number and enter the value in the column's unit",
        )
    if isinstance(raw, bool):
        raise BadValue(
            "Giá trị không phải là số",
            "The value is not a number",
            "Nhập số, ví dụ 46,32",
            "Enter a number, e.g. 46,32",
        )
    if isinstance(raw, (int, float)):
        return None if raw != raw else float(raw)
    if _text(raw) is None:
        return None
    text = _number_text(raw) if str(raw).strip().endswith("%") else digits_form(_text(raw))
    if not _NUMBER_RE.match(text):
        raise BadValue(
            f"'{text}' không phải là số",
            f"'{text}' is not a number",
            "Chỉ nhập số (dấu phẩy cho phần thập phân), ví dụ 46,32; để trống hoặc '-' nếu chưa có số liệu",
            "Enter digits only (comma as the decimal mark), e.g. 46,32; leave blank or '-' when there is no data",
        )
    evidence = decimal_evidence(text)
    if evidence is not None and evidence != decimal and not _grouped(text):
        decimal = evidence  # a plain decimal written the other way ('98.9'): its only reading, not a guess
    elif evidence is not None and evidence != decimal:
        point, group = (",", ".") if decimal == COMMA else (".", ",")
        example = "46,32 and 1.797" if decimal == COMMA else "46.32 and 1,797"
        raise BadValue(
            f"'{text}' viết khác quy ước số của cột trong tệp này (dấu thập phân '{point}', dấu nhóm nghìn '{group}')",
            f"'{text}' contradicts the column's number convention in this file (decimal mark "
            f"'{point}', thousands mark '{group}')",
            f"Viết mọi số của cột theo cùng một quy ước, ví dụ {example.replace('and', 'và')}",
            f"Write every number of the column the same way, e.g. {example}",
        )
    point, group = (",", ".") if decimal == COMMA else (".", ",")
    words = {",": ("dấu phẩy", "commas"), ".": ("dấu chấm", "dots")}
    if text.count(point) > 1:
        raise BadValue(
            f"'{text}' có nhiều {words[point][0]}",
            f"'{text}' has several {words[point][1]}",
            f"Dùng một {words[point][0]} cho phần thập phân",
            f"Use one {words[point][1][:-1]} as the decimal mark",
        )
    whole, _, fraction = text.partition(point)
    if group in whole:
        sign, groups = whole[:1] if whole[:1] in "+-" else "", whole.lstrip("+-").split(group)
        if not _THOUSANDS_LEAD.fullmatch(groups[0]) or not all(len(g) == 3 for g in groups[1:]):
            raise BadValue(
                f"'{text}' có {words[group][0]} sai vị trí",
                f"'{text}' has misplaced {words[group][1]}",
                f"{words[group][0].capitalize()} chỉ dùng để phân cách hàng nghìn, ví dụ 1{group}797",
                f"{words[group][1].capitalize()} only group thousands, e.g. 1{group}797",
            )
        whole = sign + "".join(groups)
    number = whole + ("." + fraction if point in text else "")
    if not _PLAIN_NUMBER.fullmatch(number):
        raise BadValue(
            f"'{text}' không phải là số",
            f"'{text}' is not a number",
            "Chỉ nhập số, ví dụ 46,32",
            "Enter digits only, e.g. 46,32",
        )
    return float(number)


_THOUSANDS_LEAD = re.compile(r"[1-9]\d{0,2}")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def parse_percent(raw: Any, decimal: str = COMMA) -> float | None:
    """A percentage in percent points (46,32 or 46,32%); a cell the spreadsheet showed as a
    percentage holds the fraction and is multiplied by 100, as the department saw it."""
    if isinstance(raw, PercentCell):
        return round(float(raw) * 100, 10)
    if isinstance(raw, str):
        text = raw.strip()
        if text.endswith("%"):
            raw = text[:-1]
    return parse_number(raw, decimal)


def parse_integer(raw: Any, decimal: str = COMMA) -> int | None:
    value = parse_number(raw, decimal)
    if value is None:
        return None
    if value != int(value):
        raise BadValue(
            f"'{raw}' không phải là số nguyên",
            f"'{raw}' is not a whole number",
            "Nhập số nguyên, ví dụ 12",
            "Enter a whole number, e.g. 12",
        )
    return int(value)


_FORMULA_RE = re.compile(r"^\s*(?:=|@|\+(?![\d\s]))")


def parse_text(raw: Any) -> str | None:
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    text = _text(raw)
    if text is not None and _FORMULA_RE.match(text):
        raise BadValue(
            f"Ô chứa công thức '{text[:40]}'",
            f"The cell holds a formula '{text[:40]}'",
            "Ghi giá trị, không ghi công thức (Excel: Dán đặc biệt > Giá trị)",
            "Enter the value, not a formula (Excel: Paste Special > Values)",
        )
    return " ".join(text.split()) if text is not None else None


def parse_code(raw: Any, width: int | None = None) -> str | None:
    """Codes are text: `3649` from Excel gets its leading zero back (`03649`) when the width is known."""
    if isinstance(raw, float) and raw == int(raw):
        raw = int(raw)
    text = _text(raw)
    if text is None:
        return None
    text = digits_form(text)
    if width and text.isdigit() and len(text) < width:
        text = text.zfill(width)
    if width and (not text.isdigit() or len(text) != width):
        raise BadValue(
            f"Mã '{text}' không hợp lệ (cần {width} chữ số)",
            f"Code '{text}' is invalid ({width} digits expected)",
            f"Nhập mã gồm {width} chữ số theo danh mục của Tổng cục Thống kê (định dạng ô là Văn bản)",
            f"Enter the {width}-digit official code (format the cell as Text)",
        )
    return text


_YEAR_RE = re.compile(r"(?<!\d)(20\d\d|19\d\d)(?!\d)")


def parse_year(raw: Any) -> int | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if raw == int(raw) and 1900 <= raw <= 2100:
            return int(raw)
    text = _text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    match = _YEAR_RE.search(text)  # "2023", "Năm 2023"
    if not match or fold(text) not in (match.group(1), f"nam {match.group(1)}"):
        raise BadValue(
            f"'{text}' không phải là năm",
            f"'{text}' is not a year",
            "Nhập năm gồm 4 chữ số, ví dụ 2023",
            "Enter a 4-digit year, e.g. 2023",
        )
    return int(match.group(1))


def find_year(text: str) -> int | None:
    """The year a title names ('BIỂU TỔNG HỢP ... NĂM 2023'), or None."""
    match = re.search(r"\bnam (20\d\d)\b", fold(text))
    return int(match.group(1)) if match else None


def find_year_in_filename(name: str) -> int | None:
    match = _YEAR_RE.search(name)
    return int(match.group(1)) if match else None


_MET = {"dat", "x", "co", "yes", "true", "1", "da dat", "dat chuan"}
_NOT_MET = {"chua dat", "khong dat", "chua", "khong", "no", "false", "0"}


def parse_status(raw: Any) -> bool | None:
    """Criterion results: `Đạt`, `đạt`, `x` are met; `Chưa đạt`, `Không đạt` are not; blank is unknown."""
    text = _text(raw)
    if text is None:
        return None
    key = fold(text)
    if key in _MET:
        return True
    if key in _NOT_MET:
        return False
    raise BadValue(
        f"Kết quả '{text}' không rõ",
        f"Result '{text}' is not recognised",
        "Ghi 'Đạt' hoặc 'Chưa đạt' (hoặc 'x' khi đạt)",
        "Write 'Đạt' (met) or 'Chưa đạt' (not met), or 'x' for met",
    )


def parse_boolean(raw: Any) -> bool | None:
    """Yes/no columns: `có`/`x`/`đã` are yes, `chưa`/`không` are no, blank is unknown."""
    text = _text(raw)
    if text is None:
        return None
    key = fold(text)
    if key in _MET or key in {"da", "da co", "co su dung"}:
        return True
    if key in _NOT_MET or key in {"chua co", "khong co"}:
        return False
    raise BadValue(
        f"Giá trị '{text}' không phải có/không",
        f"Value '{text}' is not yes/no",
        "Ghi 'Có' hoặc 'Chưa'",
        "Write 'Có' (yes) or 'Chưa' (no)",
    )


# Excel's day numbers (1900 date system, as LibreOffice also writes them) of 1954-09-20..2119-01-26:
# a 5-digit number in a date column is such a serial, never a year or an amount.
EXCEL_EPOCH = dt.date(1899, 12, 30)
EXCEL_SERIALS = (20_000, 80_000)


def parse_date(raw: Any) -> dt.date | None:
    """`dd/mm/yyyy` (also with `-` or `.`), Excel dates, ISO `yyyy-mm-dd`; never mm/dd."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and EXCEL_SERIALS[0] <= raw < EXCEL_SERIALS[1]:
        return EXCEL_EPOCH + dt.timedelta(days=int(raw))  # a date cell whose format was lost (a serial)
    text = _text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    if re.fullmatch(r"\d{5}", text) and EXCEL_SERIALS[0] <= int(text) < EXCEL_SERIALS[1]:
        return EXCEL_EPOCH + dt.timedelta(days=int(text))
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?", text)
    try:
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?", text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        pass
    raise BadValue(
        f"Ngày '{text}' không hợp lệ",
        f"Date '{text}' is not valid",
        "Ghi ngày theo dạng ngày/tháng/năm, ví dụ 27/01/2024",
        "Write the date as day/month/year, e.g. 27/01/2024",
    )


_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def parse_period(raw: Any) -> str | None:
    """Reporting periods, canonical: `Quý I/2024` -> `2024-Q1`, `Tháng 1/2024` -> `2024-01`,
    `6 tháng đầu năm 2024` -> `2024-H1`, `Năm 2023` or `2023` -> `2023`."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(parse_year(raw))
    text = _text(raw)
    if text is None:
        return None
    key = fold(text)
    patterns = [
        (
            r"(?:quy|q)\s*(i{1,3}|iv|[1-4])\s*(?:nam\s*)?(\d{4})",
            lambda m: f"{m.group(2)}-Q{_ROMAN.get(m.group(1)) or int(m.group(1))}",
        ),
        (r"(\d{4})\s*q([1-4])", lambda m: f"{m.group(1)}-Q{m.group(2)}"),
        (r"(?:thang\s*)(\d{1,2})\s*(?:nam\s*)?(\d{4})", lambda m: f"{m.group(2)}-{int(m.group(1)):02d}"),
        (r"6 thang (?:dau nam|dau)\s*(?:nam\s*)?(\d{4})", lambda m: f"{m.group(1)}-H1"),
        (r"(?:nam\s*)?(\d{4})", lambda m: m.group(1)),
        (r"(\d{4}) (\d{2})", lambda m: f"{m.group(1)}-{m.group(2)}"),
    ]
    for pattern, canon in patterns:
        m = re.fullmatch(pattern, key)
        if m:
            value = canon(m)
            if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])|\d{4}-Q[1-4]|\d{4}-H[12]|\d{4}", value):
                return value
    raise BadValue(
        f"Kỳ báo cáo '{text}' không rõ",
        f"Reporting period '{text}' is not recognised",
        "Ghi kỳ theo dạng 'Quý I/2024', 'Tháng 01/2024' hoặc 'Năm 2023'",
        "Write the period as 'Quý I/2024', 'Tháng 01/2024' or 'Năm 2023'",
    )


PARSERS: dict[str, Callable[..., Any]] = {
    "text": parse_text,
    "code": parse_code,
    "number": parse_number,
    "percent": parse_percent,
    "integer": parse_integer,
    "year": parse_year,
    "status": parse_status,
    "boolean": parse_boolean,
    "date": parse_date,
    "period": parse_period,
}


NUMERIC = ("number", "percent", "integer")


def parse_cell(type_name: str, raw: Any, width: int | None = None, decimal: str = COMMA) -> Any:
    """A cell read as its column's type (codes also take their width, numbers the file's decimal
    mark for the column); raises BadValue."""
    if type_name == "code":
        return PARSERS[type_name](raw, width)
    if type_name in NUMERIC:
        return PARSERS[type_name](raw, decimal)
    return PARSERS[type_name](raw)
