"""Matching keys for Vietnamese unit names. Keys are derived for matching only; the official
name (NFC, with diacritics) is what is stored and shown.

Three keys, from strict to loose:
- `tone_loose_key`: diacritics kept, tone mark moved to a fixed place (`Hoà` = `Hòa`), and the
  spelling variants below;
- `plain_key`: no diacritics, `đ` → `d`: `xa chieng xom`;
- `loose_key`: plain, plus the spelling variants the official snapshots themselves disagree on
  (`Sỹ`/`Sĩ`, `Quý`/`Quí`: final `y` → `i`; `Xà`/`Sà`: initial `x` → `s`).
Written diacritics must agree with the official name (`compatible`); missing ones match anything.

Forms also write the type in English (`Van Ban commune`, `Ward 14`, `Ho Chi Minh City`), a ward's
number with a leading zero or in Roman numerals (`Phường 04`, `Phường IV`: `number_key`), and a
hamlet before its commune (`Thôn Lập Thạch, Xã Mường Hoa`: `hamlet_word`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng

UNIT_TYPES = ["Thành phố", "Thị trấn", "Thị xã", "Đặc khu", "Phường", "Huyện", "Quận", "Tỉnh", "Xã"]
# Abbreviations, with a dot, or (two letters) a space: "X. Chiềng Cọ", "TT Hát Lót", "TP Sơn La".
_ABBREVIATIONS = {
    "tp": "Thành phố",
    "tt": "Thị trấn",
    "tx": "Thị xã",
    "dk": "Đặc khu",
    "p": "Phường",
    "x": "Xã",
    "h": "Huyện",
    "q": "Quận",
    "t": "Tỉnh",
}
_ABBREV_RE = re.compile(r"^(tp|tt|tx|dk|p|x|h|q|t)(\.\s*|\s+)(?=\S)")
# English type words, after the name or before it: "Van Ban commune", "Ward 14", "Hue City". "district"
# and "town" stand for several Vietnamese types (the resolver's fits); the others for one.
ENGLISH_TYPES = {
    "commune": "Xã",
    "ward": "Phường",
    "province": "Tỉnh",
    "city": "Thành phố",
    "district": "district",
    "town": "town",
}
_ENGLISH = "|".join(ENGLISH_TYPES)
_ENGLISH_AFTER = re.compile(rf"^([^,]+?)\s+({_ENGLISH})$", re.IGNORECASE)
_ENGLISH_BEFORE = re.compile(rf"^({_ENGLISH})\s+([^,]+)$", re.IGNORECASE)
# Places below a commune (thôn, bản, ấp, tổ dân phố...): a unit name that starts with one of these
# words names a hamlet of the commune written after it.
HAMLET_WORDS = ("Tổ dân phố", "Khu phố", "Thôn", "Xóm", "Bản", "Ấp", "Buôn", "Làng", "Sóc", "Khóm", "Tổ", "Khu")
_HAMLET_ABBREVIATIONS = {"tdp": "Tổ dân phố", "kp": "Khu phố"}
_ROMAN_RE = re.compile(r"^(x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN = {"i": 1, "v": 5, "x": 10}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    out = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return out.replace("đ", "d").replace("Đ", "D").casefold()


def tidy(text: str) -> str:
    """NFC, single spaces, no stray punctuation at the ends."""
    return " ".join(nfc(str(text)).replace("\u00a0", " ").split()).strip(" ,;.-")


def interpretations(name: str) -> list[tuple[str | None, str]]:
    """Readings of a name as (unit type, name without its type).

    With diacritics the type word is certain ('Quận 3', 'Xã Tịnh Biên'), and a name that starts
    like one without being one ('Tịnh Biên' is not 'Tỉnh Biên') keeps its first word. Without
    diacritics 'quan hoa' may be 'Quận Hoa' or 'Quan Hóa', so both readings are returned and the
    resolver accepts only an answer on which they agree."""
    text = re.sub(r"^(?:ubnd|ủy ban nhân dân|uỷ ban nhân dân)\s+", "", tidy(name), flags=re.IGNORECASE)
    english = _ENGLISH_AFTER.match(text) or _ENGLISH_BEFORE.match(text)
    if english:
        word, rest = english.group(2, 1) if english.re is _ENGLISH_AFTER else english.group(1, 2)
        return [(ENGLISH_TYPES[word.casefold()], rest.strip(" ,."))]
    lowered = text.casefold()
    for unit_type in UNIT_TYPES:
        word = unit_type.casefold()
        if lowered.startswith(word + " ") or lowered.startswith(word + "."):
            return [(unit_type, text[len(word) :].strip(" ."))]
    plain = _plain(text)
    m = re.match(r"^(p|f|q)\.?\s*(\d+)$", plain)  # P.1, F1, Q3
    if m:
        return [("Quận" if m.group(1) == "q" else "Phường", m.group(2))]
    if re.fullmatch(r"TP[^\W\d_]{2,}", text):  # "TPHCM", "TPHue": the abbreviation run into the name
        return [("Thành phố", text[2:])]
    m = _ABBREV_RE.match(plain)
    if m and (m.group(2).startswith(".") or len(m.group(1)) == 2):
        return [(_ABBREVIATIONS[m.group(1)], text[len(m.group(0)) :].strip())]
    if m:  # "h cao lanh": a one-letter abbreviation, or a name's first letter
        return [(_ABBREVIATIONS[m.group(1)], text[len(m.group(0)) :].strip()), (None, text)]
    readings: list[tuple[str | None, str]] = []
    first_word = text.split()[0] if text.split() else ""
    for unit_type in (
        UNIT_TYPES if first_word.casefold() == _plain(first_word) else []
    ):  # unaccented type word: ambiguous with a name's first syllable
        word = _plain(unit_type)
        if plain.startswith(word + " ") and text[len(word) :].strip():
            readings.append((unit_type, text[len(word) :].strip()))
            break
    return readings + [(None, text)]


def _loosen(word: str) -> str:
    """Spelling variants of the official lists themselves: final y/i (Sỹ/Sĩ, Quý/Quí), initial x/s (Xà/Sà)."""
    if len(word) > 1 and word.endswith("y") and (word[-2] not in "aeiouyâêôơưăy" or word.endswith("quy")):
        word = word[:-1] + "i"
    if word.startswith("x"):
        word = "s" + word[1:]
    return word


def tone_loose_key(text: str) -> str:
    """Diacritics kept, tone placement and the official spelling variants normalised."""
    syllables = []
    for syllable in _plain_spaces(text).split():
        decomposed = unicodedata.normalize("NFD", syllable.casefold())
        tones = "".join(ch for ch in decomposed if ch in TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in TONE_MARKS))
        syllables.append(_loosen(base) + tones)
    return " ".join(syllables)


def has_diacritics(word: str) -> bool:
    return _plain(word) != word.casefold()


def compatible(written: str, official: str) -> bool:
    """Diacritics that were written must agree; missing ones match anything (`Chiềng Xom` fits
    `Chiềng Xôm`, `Hoà Thành` does not fit `Hòa Thạnh`)."""
    a, b = _plain_spaces(written).split(), _plain_spaces(official).split()
    if len(a) != len(b):
        return False
    for w, o in zip(a, b):
        if has_diacritics(w):
            if tone_loose_key(w) != tone_loose_key(o):
                return False
        elif loose_key(w) != loose_key(o):
            return False
    return True


def plain_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", _plain(text)))


def loose_key(text: str) -> str:
    return " ".join(_loosen(word) for word in plain_key(text).split())


def _plain_spaces(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", tidy(text)).split())


def number_key(text: str) -> str:
    """'Phường 01', 'Phường 1' and 'Phường I' are the same ward: leading zeros go, and a name that is
    a Roman numeral alone (Vị Thanh's wards are 'Phường I' to 'Phường VII') is its number."""
    letters = text.strip().casefold()
    if letters and _ROMAN_RE.match(letters):
        values = [_ROMAN[ch] for ch in letters]
        # a numeral before a larger one is taken away from it: IV = 5 - 1
        return str(sum(-v if v < after else v for v, after in zip(values, values[1:] + [0])))
    return re.sub(r"\b0+(\d)", r"\1", text)


def hamlet_word(name: str) -> str | None:
    """The hamlet word a name starts with ('Thôn' in 'Thôn Lập Thạch'), if a name follows it. Written
    without diacritics it is read as one ('Thon Lap Thach'); with them, they must agree ('Bàn' is not
    'Bản')."""
    words = _plain_spaces(name).split()
    if len(words) < 2 or plain_key(name) in _hamlet_keys():  # 'Khu phố' alone names no hamlet
        return None
    if words[0].casefold() in _HAMLET_ABBREVIATIONS:
        return _HAMLET_ABBREVIATIONS[words[0].casefold()]
    for size in (3, 2, 1):  # the longer words first: 'Tổ dân phố' before 'Tổ'
        head = " ".join(words[:size])
        hamlet = _hamlet_keys().get(plain_key(head)) if len(words) > size else None
        if hamlet and (not has_diacritics(head) or tone_loose_key(head) == tone_loose_key(hamlet)):
            return hamlet
    return None


@lru_cache(maxsize=1)
def _hamlet_keys() -> dict[str, str]:
    return {plain_key(word): word for word in HAMLET_WORDS}
