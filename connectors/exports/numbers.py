"""Numbers and dates as platform exports write them, turned into the plain forms of our format.

Pure functions on text: ``1,204.50``, ``$980.10``, ``€ 1.204,50``, ``1 204,50 ₽`` and ``--``
become ``1204.50``, ``980.10``, ``1204.50``, ``1204.50`` and blank; ``01/31/2026`` becomes
``2026-01-31``. A cell they do not recognise is handed back unchanged, so the careful cell
check (``campaigns.ingest.csv_import.cells``) names it in its error with the text the user sees.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

# Symbols and codes that platforms put before or after an amount.
_SYMBOLS = "$€£¥₽₩₹₺₴zł"
_AFFIX = re.compile(
    rf"^(?:[A-Z]{{3}}\s?|[{_SYMBOLS}]\s?)?(?P<n>[0-9][0-9.,\s\u00a0\u202f]*)"
    rf"(?:\s?[{_SYMBOLS}]|\s?[A-Z]{{3}}|\s?руб\.?)?$"
)
_GROUPED_POINT = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")  # 1,204.50
_GROUPED_COMMA = re.compile(r"^[0-9]{1,3}(?:[.\s\u00a0\u202f][0-9]{3})+(?:,[0-9]+)?$")  # 1.204,50
_PLAIN_POINT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_PLAIN_COMMA = re.compile(r"^[0-9]+(?:,[0-9]+)?$")
# What exports print for "no data": Google Ads writes " --", others a lone dash.
_NO_DATA = frozenset({"-", "--", "—", "n/a", "N/A"})


def clean_number(text: str, *, decimal_comma: bool = False) -> str:
    """The plain form (digits, optional ``.`` decimals) of an exported amount or count.

    ``decimal_comma`` says which convention the file follows: with it, ``.`` and spaces group
    thousands and ``,`` marks decimals; without it, ``,`` groups thousands. Anything not
    exactly of one of these shapes is returned as it was (so a typo is reported, not guessed).
    """
    value = text.strip()
    if value in _NO_DATA:
        return ""
    if not decimal_comma and _PLAIN_POINT.match(value):
        return value  # the common cell, at once (with a decimal comma "1.000" is a thousand)
    match = _AFFIX.match(value)
    if match is None:
        return text
    number = match.group("n").strip()
    if decimal_comma:
        if _GROUPED_COMMA.match(number) or _PLAIN_COMMA.match(number):
            return re.sub(r"[.\s\u00a0\u202f]", "", number).replace(",", ".")
        return text
    if _PLAIN_POINT.match(number):
        return number
    if _GROUPED_POINT.match(number):
        return number.replace(",", "")
    return text


# A whole column of grouped or plain numbers, checked at C speed (cells joined with NUL, which
# the csv module never lets into a cell); only a column that fails takes the per-cell path.
# Atomic groups: a failing cell must not send the match back through every earlier cell.
_CELL_POINT = r"(?>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_COLUMN_POINT = re.compile(rf"(?>{_CELL_POINT})(?>\x00(?>{_CELL_POINT}))*+").fullmatch
# The same with "no data" cells among the numbers (a TikTok "-", a Google " --" wherever a
# campaign-day had no conversions): without it one such cell sent the whole column through
# the per-cell path, a dictionary of every distinct amount (the most of the import's time).
_CELL_NONE = r" *(?:--?|—|n/a|N/A) *"
_COLUMN_POINT_NONE = re.compile(
    rf"(?>{_CELL_POINT}|{_CELL_NONE})(?>\x00(?>{_CELL_POINT}|{_CELL_NONE}))*+").fullmatch


# The ways exports and spreadsheets write a negative amount: a leading minus (ASCII or the
# typographic U+2212), a minus after the currency symbol, a trailing minus, or accounting
# parentheses. Refunds and corrections come out like this; they are refused, but by name.
_MINUS = "-\u2212\u2012\u2013"
_NEGATIVE = re.compile(
    rf"^\((?P<paren>.+)\)$|^[{_MINUS}]\s?(?P<lead>.+)$|^(?P<trail>.+?)\s?[{_MINUS}]$"
    rf"|^(?P<sym>[A-Z]{{3}}\s?|[{_SYMBOLS}]\s?)[{_MINUS}](?P<rest>.+)$"
)


def is_negative_amount(text: str) -> bool:
    """Whether a cell is an amount or count written with a minus sign (in any of the shapes
    above, with either decimal convention), so an error can say "negative" and not "not a
    number"."""
    match = _NEGATIVE.match(text.strip())
    if match is None:
        return False
    if match.group("sym") is not None:
        unsigned = match.group("sym") + match.group("rest")
    else:
        unsigned = next(g for g in match.group("paren", "lead", "trail") if g is not None)
    if unsigned.strip() in _NO_DATA:
        return False
    return any(_PLAIN_POINT.match(clean_number(unsigned, decimal_comma=comma))
               for comma in (False, True))


def clean_numbers(col: Sequence[str], *, decimal_comma: bool) -> tuple[str, ...]:
    """:func:`clean_number` over a column: at once for a column of ``1,204.50`` cells, else
    once per distinct cell."""
    if not decimal_comma:
        joined = "\x00".join(col)
        if _COLUMN_POINT(joined):
            return tuple(joined.replace(",", "").split("\x00"))
        if _COLUMN_POINT_NONE(joined):
            return tuple("" if v.strip() in _NO_DATA else v for v in
                         joined.replace(",", "").split("\x00"))
    cleaned = {v: clean_number(v, decimal_comma=decimal_comma) for v in set(col)}
    return tuple(map(cleaned.__getitem__, col))


def clean_dates(col: Sequence[str], forms: Sequence[str]) -> tuple[str, ...]:
    """Each cell as ``YYYY-MM-DD``, read with the first of ``forms`` (strptime patterns) that
    fits; a cell that fits none is left as it was."""
    cleaned = {v: _iso(v, forms) for v in set(col)}
    return tuple(map(cleaned.__getitem__, col))


def _iso(text: str, forms: Sequence[str]) -> str:
    value = text.strip()
    for form in forms:
        try:
            return dt.datetime.strptime(value, form).date().isoformat()
        except ValueError:
            continue
    return text


def human_form(form: str) -> str:
    """A strptime pattern as users write it: ``%m/%d/%Y`` -> ``MM/DD/YYYY``."""
    for code, shown in (("%Y", "YYYY"), ("%m", "MM"), ("%d", "DD"), ("%H", "hh"),
                        ("%M", "mm"), ("%S", "ss")):
        form = form.replace(code, shown)
    return form
