"""Typed factories for the API tests: small rows with sensible defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlmodel import Session

from campaigns.ingest.metrics_store import refresh_account_days
from campaigns.ingest.store import get_or_create_portfolio
from campaigns.models import (
    AdAccount,
    AdSet,
    BudgetPlan,
    BudgetShift,
    Campaign,
    DailyMetric,
    FxRate,
    Portfolio,
    ShiftItem,
    SyncRun,
)

_seq = itertools.count(1)


def get_portfolio(session: Session, name: str = "default", currency: str = "EUR") -> Portfolio:
    return get_or_create_portfolio(session, name, reporting_currency=currency)


def create_account(
    session: Session, *, network: str = "meta", currency: str = "EUR", timezone: str = "UTC",
    portfolio: Portfolio | None = None, external_id: str | None = None, name: str = "Account",
) -> AdAccount:
    portfolio = portfolio or get_portfolio(session)
    row = AdAccount(
        portfolio_id=portfolio.id, network=network, external_id=external_id or f"act_{next(_seq)}",
        name=name, currency=currency, timezone=timezone,
    )
    session.add(row)
    session.flush()
    return row


def create_campaign(
    session: Session, *, account: AdAccount, daily_budget: str | Decimal = "100",
    status: str = "active", external_id: str | None = None, name: str = "Campaign",
) -> Campaign:
    row = Campaign(
        account_id=account.id, network=account.network,
        external_id=external_id or str(next(_seq)), name=name, status=status,
        daily_budget=Decimal(daily_budget),
    )
    session.add(row)
    session.flush()
    return row


def create_adset(session: Session, *, campaign: Campaign, daily_budget: str = "10") -> AdSet:
    row = AdSet(campaign_id=campaign.id, external_id=str(next(_seq)), name="Ad set",
                daily_budget=Decimal(daily_budget))
    session.add(row)
    session.flush()
    return row


def add_metrics(
    session: Session, *, campaign: Campaign, start: dt.date, spends: list[str | Decimal],
    conversions: str = "1", revenue: str = "10",
) -> None:
    for i, spend in enumerate(spends):
        session.add(DailyMetric(
            campaign_id=campaign.id, account_id=campaign.account_id,
            date=start + dt.timedelta(days=i), spend=Decimal(spend), impressions=100, clicks=10,
            conversions=Decimal(conversions), revenue=Decimal(revenue),
        ))
    session.flush()
    if spends:  # as every writer of metrics does
        refresh_account_days(session, [campaign.account_id], start,
                             start + dt.timedelta(days=len(spends) - 1))


def create_plan(
    session: Session, *, month: dt.date, planned: str, scope: str = "total", scope_key: str = "",
    portfolio: Portfolio | None = None,
) -> BudgetPlan:
    portfolio = portfolio or get_portfolio(session)
    row = BudgetPlan(portfolio_id=portfolio.id, month=month, scope=scope, scope_key=scope_key,
                     currency=portfolio.reporting_currency, planned_spend=Decimal(planned))
    session.add(row)
    session.flush()
    return row


def add_fx(session: Session, *, day: dt.date, currency: str, quote: str, rate: str) -> None:
    session.add(FxRate(date=day, currency=currency, quote=quote, rate=Decimal(rate)))
    session.flush()


def create_sync_run(session: Session, *, account: AdAccount | None, status: str = "succeeded",
                    error: str | None = None) -> SyncRun:
    row = SyncRun(account_id=account.id if account else None, stream="metrics", status=status,
                  error=error, finished_at=dt.datetime.now(dt.UTC))
    session.add(row)
    session.flush()
    return row


def create_shift(
    session: Session, *, campaigns: list[Campaign], new_budgets: list[str],
    created_by: str = "nightly", portfolio: Portfolio | None = None,
    expires_at: dt.datetime | None = None,
) -> BudgetShift:
    portfolio = portfolio or get_portfolio(session)
    old = [c.daily_budget or Decimal(0) for c in campaigns]
    new = [Decimal(b) for b in new_budgets]
    shift = BudgetShift(
        portfolio_id=portfolio.id, currency=portfolio.reporting_currency,
        total_before=sum(old, Decimal(0)), total_after=sum(new, Decimal(0)),
        created_by=created_by,
        expires_at=expires_at or dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
    )
    session.add(shift)
    session.flush()
    for c, o, n in zip(campaigns, old, new, strict=True):
        session.add(ShiftItem(
            shift_id=shift.id, campaign_id=c.id, target_external_id=c.external_id,
            currency="EUR", old_budget=o, new_budget=n, reason="test",
        ))
    session.flush()
    return shift
