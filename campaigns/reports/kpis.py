"""Social and performance KPIs of a portfolio over a period, by campaign, account, network or
the whole portfolio. Money is converted to the reporting currency day by day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.errors import ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import AdAccount
from campaigns.reports.kpi_math import Rates, Totals
from campaigns.reports.kpi_units import (
    UnitKpis,
    Units,
    account_units,
    campaign_days,
    combine,
    day_totals,
)
from campaigns.scopes import account_key, campaign_key

GroupBy = Literal["campaign", "account", "network", "portfolio"]
MAX_DAYS = 366


@dataclass(frozen=True)
class KpiRow:
    key: str  # network:account[:campaign], the network, or the portfolio's name
    name: str | None
    totals: Totals  # ``reach`` as shown: a period figure or a sum (``reach_estimated``)
    rates: Rates
    reach_estimated: bool | None = None


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
    names: dict[str, str | None] = {}
    groups: dict[str, list[Hashable]] = {}
    resolved: dict[Hashable, UnitKpis]
    if group_by == "campaign":
        units = Units()
        for acc, campaign, day, values in campaign_days(session, list(accounts), start, end):
            account = accounts[acc]
            key = campaign_key(account, campaign)
            names[key] = campaign.name
            groups[key] = [campaign.id]
            units.add(campaign.id, account_id=acc, campaign_id=campaign.id,
                      period=(start, end), day=day,
                      totals=day_totals(values, fx.rate(account.currency, day)))
        resolved = units.resolve(session)
    else:
        by_account = account_units(session, accounts, fx, [(start, end)])
        for acc_id, period in by_account:
            key, name = _group(group_by, p.name, accounts[acc_id])
            names[key] = name
            groups.setdefault(key, []).append((acc_id, period))
        resolved = {k: v for k, v in by_account.items()}
    rows = []
    for key in sorted(groups):
        k = combine(resolved[u] for u in groups[key])
        rows.append(KpiRow(key, names[key], k.totals, k.rates, k.reach_estimated))
    return KpiReport(p.name, p.reporting_currency, start, end, group_by, rows)


def _group(group_by: GroupBy, portfolio: str, account: AdAccount) -> tuple[str, str | None]:
    if group_by == "account":
        return account_key(account), account.name
    if group_by == "network":
        return account.network, account.network
    return portfolio, portfolio
