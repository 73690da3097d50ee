"""FX rates: load them, and convert a day's amount into the reporting currency.

``FxRate(date, currency, quote, rate)``: 1 ``currency`` = ``rate`` ``quote`` on ``date``. A day
without a rate (weekends, holidays) uses the most recent earlier rate within
:data:`MAX_CARRY_DAYS`; an inverse rate (quote → currency) is used when only that exists.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import or_, select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.errors import FxRateMissingError
from campaigns.lookup import Page, paginate
from campaigns.models import FxRate

MAX_CARRY_DAYS = 7
ONE = Decimal(1)


@dataclass(frozen=True)
class RateIn:
    date: dt.date
    currency: str
    quote: str
    rate: Decimal


def upsert_rates(session: Session, rates: Iterable[RateIn], *, actor: str) -> int:
    """Insert or replace rates; returns how many rows changed."""
    changed = 0
    for r in rates:
        cur, quote = r.currency.upper(), r.quote.upper()
        row = session.scalars(select(FxRate).where(
            col(FxRate.date) == r.date, col(FxRate.currency) == cur, col(FxRate.quote) == quote
        )).first()
        if row is None:
            session.add(FxRate(date=r.date, currency=cur, quote=quote, rate=r.rate))
            changed += 1
        elif row.rate != r.rate:
            row.rate = r.rate
            changed += 1
    session.flush()
    if changed:
        audit.record(session, actor=actor, action="fx.upsert", entity_type="fx",
                     entity_id="batch", after={"changed": changed})
    return changed


def list_rates(
    session: Session, page: Page, *, currency: str | None = None, quote: str | None = None,
    start: dt.date | None = None, end: dt.date | None = None,
) -> tuple[list[FxRate], int]:
    stmt = select(FxRate).order_by(col(FxRate.date), col(FxRate.currency), col(FxRate.quote))
    if currency:
        stmt = stmt.where(col(FxRate.currency) == currency.upper())
    if quote:
        stmt = stmt.where(col(FxRate.quote) == quote.upper())
    if start:
        stmt = stmt.where(col(FxRate.date) >= start)
    if end:
        stmt = stmt.where(col(FxRate.date) <= end)
    return paginate(session, stmt, page)


@dataclass
class FxTable:
    """Rates into one reporting currency for a date range, looked up in memory."""

    reporting: str
    _days: dict[str, list[dt.date]] = field(default_factory=dict)
    _rates: dict[str, list[Decimal]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, reporting: str, currencies: Iterable[str],
             start: dt.date, end: dt.date) -> FxTable:
        table = cls(reporting=reporting)
        wanted = {c for c in currencies if c != reporting}
        if not wanted:
            return table
        lo = start - dt.timedelta(days=MAX_CARRY_DAYS)
        rows = session.execute(
            select(col(FxRate.date), col(FxRate.currency), col(FxRate.quote),
                   col(FxRate.rate)).where(
                col(FxRate.date) >= lo, col(FxRate.date) <= end,
                or_(
                    col(FxRate.currency).in_(wanted) & (col(FxRate.quote) == reporting),
                    (col(FxRate.currency) == reporting) & col(FxRate.quote).in_(wanted),
                ),
            ).order_by(col(FxRate.date))
        ).all()
        direct: dict[tuple[str, dt.date], Decimal] = {}
        inverse: dict[tuple[str, dt.date], Decimal] = {}
        for day, cur, quote, rate in rows:
            if quote == reporting:
                direct[(cur, day)] = Decimal(rate)
            elif rate:
                inverse[(quote, day)] = ONE / Decimal(rate)
        merged = {**inverse, **direct}
        for (cur, day) in sorted(merged, key=lambda k: (k[0], k[1])):
            table._days.setdefault(cur, []).append(day)
            table._rates.setdefault(cur, []).append(merged[(cur, day)])
        return table

    def rate(self, currency: str, day: dt.date) -> Decimal:
        if currency == self.reporting:
            return ONE
        days = self._days.get(currency, [])
        i = bisect.bisect_right(days, day) - 1
        if i < 0 or (day - days[i]).days > MAX_CARRY_DAYS:
            raise FxRateMissingError(
                f"no FX rate {currency}→{self.reporting} on or up to {MAX_CARRY_DAYS} days "
                f"before {day.isoformat()}; load rates with POST /api/v1/fx-rates"
            )
        return self._rates[currency][i]
