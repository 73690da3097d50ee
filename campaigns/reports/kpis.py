"""Social and performance KPIs of a portfolio over a period, by campaign, account, network or
the whole portfolio. Money is converted to the reporting currency day by day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.errors import ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import AccountDay, AdAccount, Campaign, DailyMetric
from campaigns.reports.kpi_math import SOCIAL, Rates, Totals, add, rates
from campaigns.scopes import account_key, campaign_key

GroupBy = Literal["campaign", "account", "network", "portfolio"]
MAX_DAYS = 366
_VALUES = ("spend", "impressions", "clicks", "conversions", "revenue", *SOCIAL)


@dataclass(frozen=True)
class KpiRow:
    key: str  # network:account[:campaign], the network, or the portfolio's name
    name: str | None
    totals: Totals
    rates: Rates


@dataclass(frozen=True)
class KpiReport:
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    group_by: GroupBy
    rows: list[KpiRow]


def kpi_report(
    session: Session, *, portfolio: str, start: dt.date, end: dt.date, group_by: GroupBy
) -> KpiReport:
    if end < start:
        raise ValidationError("end is before start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError(f"a KPI report covers at most {MAX_DAYS} days")
    p = get_portfolio(session, portfolio)
    accounts: dict[int, AdAccount] = {
        a.id: a for a in session.scalars(
            select(AdAccount).where(col(AdAccount.portfolio_id) == p.id)) if a.id is not None
    }
    fx = FxTable.load(session, p.reporting_currency, {a.currency for a in accounts.values()},
                      start, end)
    sums: dict[str, Totals] = {}
    names: dict[str, str | None] = {}
    for account_id, campaign, day, values in _day_rows(session, list(accounts), start, end,
                                                       per_campaign=group_by == "campaign"):
        account = accounts[account_id]
        rate = fx.rate(account.currency, day)
        key, name = _group(group_by, p.name, account, campaign)
        names[key] = name
        sums[key] = add(sums.get(key, Totals()), _totals(values, rate))
    rows = [KpiRow(k, names[k], t, rates(t)) for k, t in sorted(sums.items())]
    return KpiReport(p.name, p.reporting_currency, start, end, group_by, rows)


def _group(
    group_by: GroupBy, portfolio: str, account: AdAccount, campaign: Campaign | None
) -> tuple[str, str | None]:
    if group_by == "campaign" and campaign is not None:
        return campaign_key(account, campaign), campaign.name
    if group_by == "account":
        return account_key(account), account.name
    if group_by == "network":
        return account.network, account.network
    return portfolio, portfolio


def _totals(values: dict[str, Any], rate: Decimal) -> Totals:
    return Totals.day(
        spend=Decimal(values["spend"] or 0) * rate,
        impressions=int(values["impressions"] or 0), clicks=int(values["clicks"] or 0),
        conversions=Decimal(values["conversions"] or 0),
        revenue=Decimal(values["revenue"] or 0) * rate,
        **{n: None if values[n] is None else int(values[n]) for n in SOCIAL},
    )


def _day_rows(
    session: Session, account_ids: list[int], start: dt.date, end: dt.date, *,
    per_campaign: bool,
) -> list[tuple[int, Campaign | None, dt.date, dict[str, Any]]]:
    """(account id, campaign or None, day, values) for every row of the period.

    Above the campaign level the store's per-account day totals answer: no sum over
    millions of campaign rows per request.
    """
    if not account_ids:
        return []
    if not per_campaign:
        d = AccountDay
        stmt = select(col(d.account_id), col(d.date), *(getattr(d, v) for v in _VALUES)).where(
            col(d.account_id).in_(account_ids), col(d.date) >= start, col(d.date) <= end)
        return [(acc, None, day, dict(zip(_VALUES, rest, strict=True)))
                for acc, day, *rest in session.execute(stmt)]
    m = DailyMetric
    stmt2 = (
        select(col(m.account_id), Campaign, col(m.date), *(getattr(m, v) for v in _VALUES))
        .join(Campaign, col(Campaign.id) == col(m.campaign_id))
        .where(col(m.account_id).in_(account_ids), col(m.date) >= start, col(m.date) <= end)
    )
    return [(acc, campaign, day, dict(zip(_VALUES, rest, strict=True)))
            for acc, campaign, day, *rest in session.execute(stmt2)]
