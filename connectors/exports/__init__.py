"""Import formats: how one export's header and cells map onto our CSV contract.

A format is data (:class:`Format`): for each of our columns, the header titles a platform
uses for it, how it writes dates and decimals, and what it leaves out (network, account,
currency) to be taken from the format itself, the header or the command line. The built-in
platform tables are in :mod:`connectors.exports.platforms`;
``[[imports]]`` in the config adds more (:func:`from_config`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Our columns that a platform export can fill (network comes from the format).
COLUMNS = (
    "date", "account_id", "campaign_id", "campaign_name", "currency", "spend",
    "impressions", "clicks", "conversions", "revenue", "daily_budget",
    "reach", "video_views", "engagements", "reactions", "comments", "shares", "follows",
)  # fmt: skip
# Without these a file cannot be imported at all.
ESSENTIAL = ("date", "spend")
# A title such as "Amount spent (EUR)" or "Cost (USD)" carries the account's currency.
_CURRENCY_TITLE = re.compile(r"^(?P<title>.*?)\s*\((?P<code>[A-Za-z]{3})\)$")


def normal(title: str) -> str:
    """A header title compared without case, edge spaces or a byte-order mark."""
    return " ".join(title.replace("\ufeff", "").strip().lower().split())


@dataclass(frozen=True)
class Format:
    name: str
    network: str
    # our column -> the titles this platform uses for it (any one of them, compared normal())
    titles: Mapping[str, Sequence[str]]
    date_forms: Sequence[str] = ("%Y-%m-%d",)
    decimal_comma: bool = False
    description: str = ""
    # values for columns the export has no title for (e.g. a config's fixed currency)
    fixed: Mapping[str, str] = field(default_factory=dict)
    # patterns for a report line above the header that names the account (LinkedIn's
    # "Account: Acme GmbH (508000001)"); group "id" is the account id
    account_lines: Sequence[str] = ()

    def account_in(self, preamble: Sequence[tuple[int, str]]) -> tuple[int, str, str] | None:
        """The account id a report line above the header names: (line, id, the line)."""
        for line_no, text in preamble:
            # the line as a spreadsheet saved it: maybe quoted, maybe followed by delimiters
            delimiter = max((",", ";", "\t"), key=text.count)
            cells = next(csv.reader([text.replace("\ufeff", "")], delimiter=delimiter), [])
            cleaned = next((c.strip() for c in cells if c.strip()), "")
            for pattern in self.account_lines:
                m = re.fullmatch(pattern, cleaned, re.IGNORECASE)
                if m:
                    return line_no, m.group("id"), cleaned
        return None

    def match(self, header: Sequence[str]) -> Match | None:
        """Where each of our columns is in this header, or None if it is not this format's."""
        index: dict[str, int] = {}
        rank: dict[str, int] = {}
        currency = None
        for i, raw in enumerate(header):
            title = normal(raw)
            found = self._column(title)
            if found is None:
                m = _CURRENCY_TITLE.match(title)
                if m and (found := self._column(m.group("title"))) is not None:
                    currency = currency or m.group("code").upper()
            # Where two titles fit one column, the table's first choice wins (Meta's "Day"
            # over "Reporting starts").
            if found is not None and found[1] < rank.get(found[0], len(header) + 99):
                index[found[0]], rank[found[0]] = i, found[1]
        if not all(c in index for c in ESSENTIAL) or not (
            "campaign_id" in index or "campaign_name" in index
        ):
            return None
        return Match(self, index, currency, len(index))

    def _column(self, title: str) -> tuple[str, int] | None:
        """Our column this title is for, and how preferred the title is (0 best)."""
        for column, names in self.titles.items():
            for r, name in enumerate(names):
                if title == normal(name):
                    return column, r
        return None


@dataclass(frozen=True)
class Match:
    """A format found in a header: our column -> its index, and a currency from a title."""

    format: Format
    index: Mapping[str, int]
    header_currency: str | None
    score: int


def from_config(entry: Any) -> Format:
    """A :class:`Format` from one validated ``[[imports]]`` entry (campaigns.config)."""
    columns = entry.columns.model_dump(exclude_none=True)
    titles = {c: [t] if isinstance(t, str) else list(t) for c, t in columns.items()}
    fixed = {k: v for k, v in (("currency", entry.currency), ("account_id", entry.account_id))
             if v}
    return Format(
        name=entry.name, network=entry.network, titles=titles, date_forms=entry.date_formats,
        decimal_comma=entry.decimal == ",", description=f"[[imports]] {entry.name}", fixed=fixed,
    )
