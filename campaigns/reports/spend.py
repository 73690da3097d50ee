"""Daily spend of a portfolio in its reporting currency, per account (and per campaign on
request), converted with each day's FX rate. Days are the accounts' own local days."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.models import AccountDay, AdAccount, Campaign, DailyMetric, Portfolio
from campaigns.scopes import account_key, campaign_key


@dataclass(frozen=True)
class AccountInfo:
    id: int
    key: str  # network:external_id
    network: str
    name: str
    currency: str


def portfolio_accounts(session: Session, portfolio: Portfolio) -> list[AccountInfo]:
    rows = session.scalars(
        select(AdAccount).where(col(AdAccount.portfolio_id) == portfolio.id)
        .order_by(col(AdAccount.id))
    )
    return [AccountInfo(a.id, account_key(a), a.network, a.name, a.currency)  # type: ignore[arg-type]
            for a in rows]


def account_daily_local(
    session: Session, accounts: list[AccountInfo], start: dt.date, end: dt.date
) -> dict[tuple[int, dt.date], Decimal]:
    """(account id, local day) → spend in the account's currency."""
    if not accounts or end < start:
        return {}
    # The store keeps these totals as metrics are written: no sum over campaign rows here.
    d = AccountDay
    stmt = select(col(d.account_id), col(d.date), col(d.spend)).where(
        col(d.account_id).in_([a.id for a in accounts]),
        col(d.date) >= start, col(d.date) <= end,
    )
    return {(acc, day): Decimal(total or 0) for acc, day, total in session.execute(stmt)}


def campaign_daily_reporting(
    session: Session, portfolio: Portfolio, keys: set[str], fx: FxTable, start: dt.date,
    end: dt.date, account_ids: set[int] | None = None,
) -> dict[str, dict[dt.date, Decimal]]:
    """campaign scope key → local day → spend in the reporting currency (of the accounts in
    ``account_ids`` if given)."""
    out: dict[str, dict[dt.date, Decimal]] = {k: {} for k in keys}
    if not keys:
        return out
    m = DailyMetric
    stmt = (
        select(AdAccount, Campaign, col(m.date), col(m.spend))
        .join(Campaign, col(Campaign.id) == col(m.campaign_id))
        .join(AdAccount, col(AdAccount.id) == col(m.account_id))
        .where(col(AdAccount.portfolio_id) == portfolio.id, col(m.date) >= start,
               col(m.date) <= end)
    )
    wanted = {k.split(":")[2] for k in keys}
    stmt = stmt.where(col(Campaign.external_id).in_(wanted))
    if account_ids is not None:
        stmt = stmt.where(col(AdAccount.id).in_(account_ids))
    for account, campaign, day, spend in session.execute(stmt):
        key = campaign_key(account, campaign)
        if key in out:
            series = out[key]
            series[day] = series.get(day, Decimal(0)) + Decimal(spend) * fx.rate(
                account.currency, day)
    return out


def to_reporting(
    local: dict[tuple[int, dt.date], Decimal], accounts: list[AccountInfo], fx: FxTable
) -> dict[int, dict[dt.date, Decimal]]:
    """account id → day → exact spend in the reporting currency (not rounded)."""
    currency = {a.id: a.currency for a in accounts}
    out: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
    for (acc, day), amount in local.items():
        out[acc][day] = amount * fx.rate(currency[acc], day)
    return out
