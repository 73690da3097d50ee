"""The bulk-edit file of one network: its platform's own column titles, one row per budget.

The titles are the ones the platform's exports use (:mod:`connectors.exports.platforms`, or
an ``[[imports]]`` mapping for another network), so the file reads as the platform's own:
account, campaign, its name, the currency and the new daily budget, written with the
currency's decimals (``120.50`` EUR, ``5000`` JPY), no thousand separators or symbols.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from connectors.currencies import ISO_4217
from connectors.exports import Format
from connectors.exports.platforms import PLATFORMS

# Our columns a budget file has, in order.
COLUMNS = ("account_id", "campaign_id", "campaign_name", "currency", "daily_budget")


@dataclass(frozen=True)
class BudgetRow:
    account_id: str
    campaign_id: str
    campaign_name: str
    currency: str
    daily_budget: Decimal


def titles(network: str, formats: Mapping[str, Format] | None = None) -> list[str]:
    """The file's header: the platform's first title for each column (our name where its
    format has none)."""
    fmt = _format(network, formats or {})
    if fmt is None:
        return list(COLUMNS)
    return [(fmt.titles.get(c) or [c])[0] for c in COLUMNS]


def _format(network: str, formats: Mapping[str, Format]) -> Format | None:
    for table in (PLATFORMS, formats):
        for fmt in table.values():
            if fmt.network == network:
                return fmt
    return None


def amount(value: Decimal, currency: str) -> str:
    """The budget as the platform's file writes it: the currency's decimals exactly."""
    places = ISO_4217.get(currency, 2)
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):f}"


def render(network: str, rows: Sequence[BudgetRow],
           formats: Mapping[str, Format] | None = None) -> bytes:
    """The file's bytes. UTF-8; with a byte-order mark when a title is not ASCII (VK's
    Russian ones), so that a spreadsheet opens it right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = titles(network, formats)
    writer.writerow(header)
    for r in sorted(rows, key=lambda r: (r.account_id, r.campaign_id)):
        writer.writerow([r.account_id, r.campaign_id, r.campaign_name, r.currency,
                         amount(r.daily_budget, r.currency)])
    text = out.getvalue()
    encoding = "utf-8" if all(t.isascii() for t in header) else "utf-8-sig"
    return text.encode(encoding)
