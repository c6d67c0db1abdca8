"""The subset of Solr's query syntax that CKAN sends, parsed into predicates over index documents.

CKAN builds its queries as Solr strings (`+capacity:public +state:(active OR draft)`,
`name:"x" OR id:"x"`, `organization:"org" tags:"t"`, free text). This module parses them
into a small tree and evaluates it against a document (a dict of field -> value or list).
It has no CKAN import, so it is tested on its own.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Fields Solr tokenises (type "text" in CKAN's schema); the rest are exact-match strings.
TEXT_FIELDS = {"text", "title", "notes", "res_name", "res_description", "author", "maintainer"}


def fold(text: str) -> str:
    """Case- and diacritics-insensitive form used for matching only (never stored as a name)."""
    decomposed = unicodedata.normalize("NFD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.replace("đ", "d").replace("Đ", "D").casefold()


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


# ---------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\|)
  | (?P<punct>[()\[\]{}:])
  | (?P<word>(?:[^\s()\[\]{}:"\\]|\\.)+)
    """,
    re.VERBOSE,
)


def _tokenize(query: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN_RE.match(query, pos)
        if not m:
            raise QuerySyntaxError(f"cannot read the query at position {pos}: {query!r}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group()
        if kind == "ws":
            continue
        if kind == "quoted":
            out.append(("quoted", re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "op":
            out.append(("word", "AND" if text == "&&" else "OR"))
        elif kind == "punct":
            out.append((text, text))
        else:
            out.append(("word", text))
    return out


class QuerySyntaxError(ValueError):
    pass


# ---------------------------------------------------------------- tree

Predicate = Callable[[dict], bool]


@dataclass
class Node:
    """A parsed query: `test(doc)` says whether the document matches; `free_text` lists the
    unfielded words, which the caller may also push into a full-text index for ranking."""

    test: Predicate
    free_text: list[str]


# Brackets and signs nested deeper than this are refused as a syntax error, before Python's own
# recursion limit would fail the request (`((((…x))))`, `NOT NOT … x`, `-----…x`).
_MAX_DEPTH = 50


class _Parser:
    def __init__(self, query: str):
        self.toks = _tokenize(query)
        self.i = 0
        self.depth = 0
        self.free_text: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str) -> None:
        tok = self.peek()
        if tok is None or tok[0] != kind:
            raise QuerySyntaxError(f"expected {kind!r}, found {tok!r}")
        self.i += 1

    def parse(self) -> Predicate:
        if not self.toks:
            return lambda doc: True
        pred = self.or_expr()
        if self.peek() is not None:
            raise QuerySyntaxError(f"unexpected {self.peek()!r}")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: any(p(doc) for p in parts)

    def and_expr(self) -> Predicate:
        # Solr's q.op is AND in CKAN, so juxtaposed clauses are all required.
        parts = [self.unary()]
        while True:
            tok = self.peek()
            if tok is None or tok[0] in (")",) or tok == ("word", "OR"):
                break
            if tok == ("word", "AND"):
                self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(p(doc) for p in parts)

    def unary(self) -> Predicate:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise QuerySyntaxError(f"the query is nested more than {_MAX_DEPTH} deep")
            return self._signed()
        finally:
            self.depth -= 1

    def _signed(self) -> Predicate:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1] in ("NOT", "-", "+"):
            self.take()
            inner = self.unary()
            return inner if tok[1] == "+" else (lambda doc: not inner(doc))
        if tok and tok[0] == "word" and tok[1][0] in "+-" and len(tok[1]) > 1:
            # "+field" / "-field": split the sign from the clause.
            self.toks[self.i] = ("word", tok[1][1:])
            inner = self.unary()
            return inner if tok[1][0] == "+" else (lambda doc: not inner(doc))
        return self.primary()

    def primary(self) -> Predicate:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("the query ends too early")
        if tok[0] == "(":
            self.take()
            pred = self.or_expr()
            self.expect(")")
            return pred
        if tok[0] == "word" and self.i + 1 < len(self.toks) and self.toks[self.i + 1][0] == ":":
            field = self.take()[1]
            self.take()
            return self.field_value(field)
        kind, text = self.take()
        if text == "*:*":
            return lambda doc: True
        self.free_text.append(text)
        return _free_text_predicate(text)

    def field_value(self, field: str) -> Predicate:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError(f"no value after {field}:")
        if tok[0] == "(":
            self.take()
            pred = self._group(field)
            self.expect(")")
            return pred
        if tok[0] in ("[", "{"):
            return self._range(field)
        kind, text = self.take()
        if field == "*" and text == "*":
            return lambda doc: True
        return _field_predicate(field, text, phrase=(kind == "quoted"))

    def _group(self, field: str) -> Predicate:
        # field:(a OR b), field:(a AND b), field:(a b)
        alternatives: list[list[Predicate]] = [[]]
        while self.peek() is not None and self.peek()[0] != ")":
            kind, text = self.take()
            if kind == "word" and text == "OR":
                alternatives.append([])
            elif kind == "word" and text == "AND":
                continue
            else:
                alternatives[-1].append(_field_predicate(field, text, phrase=(kind == "quoted")))
        alternatives = [alt for alt in alternatives if alt]
        return lambda doc: any(all(p(doc) for p in alt) for alt in alternatives)

    def _bound_text(self, stop: tuple[str, str] | None, field: str) -> str:
        """A range bound, re-joined where the tokenizer split it (dates carry colons)."""
        parts: list[str] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise QuerySyntaxError(f"a range on {field} is not closed")
            if tok == stop or (stop is None and tok[0] in ("]", "}")):
                break
            parts.append(self.take()[1])
        if not parts:
            raise QuerySyntaxError(f"a range on {field} needs TO")
        return "".join(parts)

    def _range(self, field: str) -> Predicate:
        open_kind = self.take()[0]
        low = self._bound_text(stop=("word", "TO"), field=field)
        self.take()
        high = self._bound_text(stop=None, field=field)
        close = self.take()[0]
        inclusive_low, inclusive_high = open_kind == "[", close == "]"
        low_v, high_v = _range_bound(low), _range_bound(high)
        if {type(low_v), type(high_v)} == {float, str}:  # [1 TO b]: compared as text, as both bounds can be
            low_v, high_v = low, high

        def test(doc: dict) -> bool:
            for value in _values(doc, field):
                v = _comparable(value, low_v if low_v is not None else high_v)
                if v is None:
                    continue
                if low_v is not None and (v < low_v if inclusive_low else v <= low_v):
                    continue
                if high_v is not None and (v > high_v if inclusive_high else v >= high_v):
                    continue
                return True
            return False

        return test


def _range_bound(text: str) -> Any:
    if text == "*":
        return None
    if text.startswith("NOW"):
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        return float(text)
    except ValueError:
        return text


def _comparable(value: Any, like: Any) -> Any:
    if isinstance(like, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value)


def _values(doc: dict, field: str) -> list[Any]:
    value = doc.get(field)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return [value]


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_predicate(field: str, text: str, phrase: bool) -> Predicate:
    if field in TEXT_FIELDS:
        wanted = tokens(text)

        def text_test(doc: dict) -> bool:
            source = " ".join(_as_string(v) for v in _values(doc, field)) if field != "text" else doc.get("_text", "")
            have = tokens(source)
            if phrase:
                n = len(wanted)
                return any(have[i : i + n] == wanted for i in range(len(have) - n + 1))
            return all(w in have for w in wanted)

        return text_test
    if not phrase and text == "*":
        return lambda doc: any(_as_string(v) != "" for v in _values(doc, field))
    if not phrase and ("*" in text or "?" in text):
        return lambda doc: any(fnmatch.fnmatchcase(_as_string(v), text) for v in _values(doc, field))
    return lambda doc: any(_as_string(v) == text for v in _values(doc, field))


def _free_text_predicate(text: str) -> Predicate:
    wanted = tokens(text)
    return lambda doc: all(w in doc.get("_tokens", ()) for w in wanted)


def parse(query: str | None) -> Node:
    """Parse a Solr query string; an empty query or `*:*` matches everything."""
    parser = _Parser((query or "").strip())
    test = parser.parse()
    return Node(test=test, free_text=parser.free_text)


# Solr's operators, which a reader who typed them meant as operators, not as words to find.
_OPERATORS = {"AND", "OR", "NOT", "&&", "||"}


def words(query: str | None) -> list[str]:
    """The words of a text, its punctuation and Solr's operators left out (`a"b (x AND` → a, b, x)."""
    text = unicodedata.normalize("NFC", query or "")
    return re.findall(r"\w+", " ".join(part for part in text.split() if part not in _OPERATORS))


def parse_user_query(query: str | None) -> Node:
    """What a reader typed in the search box (CKAN's `q`): Solr syntax where it is Solr syntax, else
    its words, every one required, as Solr's dismax reads text it cannot parse. Never an error: an
    unbalanced quote or bracket, a dangling operator or colon, a backslash at the end find the words
    around them; a text without words (`"`, `(`, `-`) finds every dataset, as an empty one does."""
    try:
        return parse(query)
    except QuerySyntaxError:
        found = words(query)
        tests = [_free_text_predicate(w) for w in found]
        return Node(test=lambda doc: all(t(doc) for t in tests), free_text=found)
