"""A platform export's block of rows as our format's columns, ready for the usual checks.

Columns are mapped by the format's table; dates and numbers are turned into our plain forms
(:mod:`connectors.exports.numbers`); what the export lacks comes from the
format (network),
the header (a currency in a title), the command line (``--account``, ``--currency``) or a
config mapping, and the import says where each came from. Total and summary rows are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.exports import Match
from connectors.exports.numbers import clean_dates, clean_numbers, human_form
from connectors.exports.reading import FormatError

AMOUNTS = ("spend", "conversions", "revenue", "daily_budget")
COUNTS = ("impressions", "clicks",
          "reach", "video_views", "engagements", "reactions", "comments", "shares", "follows")
# "Total", "Total: Campaigns", "Total of 12 results", "Итого", "Всего": summary rows.
_SUMMARY = re.compile(r"^\s*(total|итого|всего)\b", re.IGNORECASE)


@dataclass
class Plan:
    """Where each of our columns comes from in one export."""

    network: str
    index: dict[str, int]
    fixed: dict[str, str]
    labels: dict[str, str]
    date_forms: Sequence[str]
    decimal_comma: bool
    notes: list[str] = field(default_factory=list)

    @property
    def date_hint(self) -> str:
        return " or ".join(human_form(f) for f in self.date_forms)


def plan_for(
    match: Match, header: Sequence[str], *, account: str | None, currency: str | None,
    decimal_comma: bool, preamble: Sequence[tuple[int, str]] = (),
) -> Plan:
    """Resolve every column of our format for this export, or say which cannot be known."""
    fmt = match.format
    index = dict(match.index)
    labels = {c: header[i].strip() for c, i in index.items()}
    fixed: dict[str, str] = {}
    notes: list[str] = []

    def take(column: str, value: str, origin: str) -> None:
        fixed[column] = value
        labels[column] = f"{column} (from {origin})"
        index.pop(column, None)

    named = fmt.account_in(preamble) if "account_id" not in index else None
    if named is not None and account and account.strip() != named[1]:
        raise FormatError(named[0], f"--account {account.strip()} conflicts with the account "
                          f"this export is for ({named[2]!r}): leave --account out, or "
                          "import the right file")
    if account:
        take("account_id", account, "--account")
    elif named is not None:
        take("account_id", named[1], f"line {named[0]} {named[2]!r}")
    elif "account_id" not in index and fmt.fixed.get("account_id"):
        take("account_id", fmt.fixed["account_id"], f"the {fmt.name} mapping")
    if currency:
        take("currency", currency.strip().upper(), "--currency")
    elif "currency" not in index:
        if match.header_currency:
            take("currency", match.header_currency, f"the title {labels['spend']!r}")
        elif fmt.fixed.get("currency"):
            take("currency", fmt.fixed["currency"], f"the {fmt.name} mapping")
    missing = [c for c in ("account_id", "currency") if c not in index and c not in fixed]
    if missing:
        options = " and ".join(f"--{c.split('_')[0]}" for c in missing)
        raise FormatError(1, f"this {fmt.name} export has no {' or '.join(missing)} column, so "
                          f"it cannot be known: pass {options}")
    if "campaign_id" not in index:
        index["campaign_id"] = index["campaign_name"]
        labels["campaign_id"] = labels["campaign_name"]
        notes.append("no campaign id column: campaigns are told apart by name "
                     "(a renamed campaign imports as a new one)")
    if "campaign_name" not in index:
        index["campaign_name"] = index["campaign_id"]
    for column in ("impressions", "clicks", "conversions", "revenue"):
        if column not in index:
            fixed[column] = "0"
            notes.append(f"no {column} column: counted as 0")
    return Plan(fmt.network, index, fixed, labels, fmt.date_forms,
                decimal_comma or fmt.decimal_comma, notes)


def translate(
    plan: Plan, rows: list[list[str]], lines: Sequence[int],
) -> tuple[dict[str, tuple[str, ...]], list[int], int]:
    """Our columns for a block (same width rows), the lines kept, and how many were summaries."""
    d = plan.index["date"]
    dates = {r[d] for r in rows}
    odd = {v for v in dates if not v[:1].isdigit()}
    skipped = 0
    kept_lines: Sequence[int] = lines
    if odd:
        keep = [i for i, r in enumerate(rows) if r[d] not in odd or not _is_summary(r, d)]
        skipped = len(rows) - len(keep)
        if skipped:
            rows = [rows[i] for i in keep]
            kept_lines = [lines[i] for i in keep]
    if not rows:
        return {}, [], skipped
    source = list(zip(*rows, strict=True))
    n = len(rows)
    cols: dict[str, tuple[str, ...]] = {"network": (plan.network,) * n}
    for column, i in plan.index.items():
        col = source[i]
        if column == "date":
            col = clean_dates(col, plan.date_forms)
        elif column in AMOUNTS or column in COUNTS:
            col = clean_numbers(col, decimal_comma=plan.decimal_comma)
        cols[column] = col
    for column, value in plan.fixed.items():
        cols[column] = (value,) * n
    return cols, list(kept_lines), skipped


def _is_summary(cells: list[str], date_index: int) -> bool:
    """A total row: its date cell says so, or it has no date and its first filled cell does."""
    date = cells[date_index]
    if date.strip():
        return bool(_SUMMARY.match(date))
    return is_summary_row(cells)


def is_summary_row(cells: list[str]) -> bool:
    """A row whose first filled cell says it is a total (of any width)."""
    first = next((c for c in cells if c.strip()), "")
    return bool(_SUMMARY.match(first))
