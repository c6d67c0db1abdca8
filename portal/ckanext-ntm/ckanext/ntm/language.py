"""The reader's language on a page, and figures written as that language writes them: one place for
the portal's pages, helpers and downloads."""

from __future__ import annotations

import ckan.plugins.toolkit as tk


def lang() -> str:
    """The page's language, "vi" or "en"; "vi" outside a request (CLI, background job)."""
    try:
        return tk.h.lang() or "vi"
    except Exception:
        return "vi"


def text(vi: str, en: str, language: str | None = None) -> str:
    return en if (language or lang()) == "en" else vi


def number(value, language: str | None = None) -> str:
    """46,3 in Vietnamese, 46.3 in English (one decimal, none when whole); "–" for none."""
    if value is None:
        return "–"
    shown = f"{float(value):.1f}".removesuffix(".0")
    return shown if (language or lang()) == "en" else shown.replace(".", ",")


def with_unit(value, unit: str, language: str | None = None) -> str:
    """A figure with its unit as each language writes it: "46,3 %" and "46.3%"."""
    language = language or lang()
    if value is None:
        return "–"
    if not unit:
        return number(value, language)
    joiner = "" if (language == "en" and unit == "%") else " "
    return f"{number(value, language)}{joiner}{unit}"


def pager(page, **params):
    """CKAN's pager with "previous" and "next" in words: CKAN draws them as bare icons, links without a
    name for a screen reader (axe link-name)."""
    words = {"symbol_previous": text("‹ Trang trước", "‹ Previous"), "symbol_next": text("Trang sau ›", "Next ›")}
    return page.pager(**words, **params)
