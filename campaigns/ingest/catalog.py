"""Read queries behind the API: accounts, campaigns, ad sets, metrics, sync runs, audit.

Every list takes its filters and a page, and returns the page with the total count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from campaigns.errors import ValidationError
from campaigns.lookup import Page, get_portfolio, paginate
from campaigns.models import (
    AdAccount,
    AdSet,
    AuditEvent,
    Campaign,
    DailyMetric,
    SyncRun,
)

MAX_SERIES_DAYS = 3700


def list_accounts(
    session: Session, page: Page, *, network: str | None = None, portfolio: str | None = None,
    status: str | None = None,
) -> tuple[list[AdAccount], int]:
    stmt = select(AdAccount).order_by(AdAccount.id)
    if network:
        stmt = stmt.where(AdAccount.network == network)
    if status:
        stmt = stmt.where(AdAccount.status == status)
    if portfolio:
        stmt = stmt.where(AdAccount.portfolio_id == get_portfolio(session, portfolio).id)
    return paginate(session, stmt, page)


def list_campaigns(
    session: Session, page: Page, *, network: str | None = None, account_id: int | None = None,
    status: str | None = None, portfolio: str | None = None,
) -> tuple[list[Campaign], int]:
    stmt = select(Campaign).order_by(Campaign.id)
    if network:
        stmt = stmt.where(Campaign.network == network)
    if account_id is not None:
        stmt = stmt.where(Campaign.account_id == account_id)
    if status:
        stmt = stmt.where(Campaign.status == status)
    if portfolio:
        pid = get_portfolio(session, portfolio).id
        stmt = stmt.join(AdAccount, AdAccount.id == Campaign.account_id).where(
            AdAccount.portfolio_id == pid
        )
    return paginate(session, stmt, page)


def list_adsets(
    session: Session, page: Page, *, campaign_id: int | None = None,
    account_id: int | None = None, network: str | None = None, status: str | None = None,
) -> tuple[list[AdSet], int]:
    stmt = select(AdSet).order_by(AdSet.id)
    if campaign_id is not None:
        stmt = stmt.where(AdSet.campaign_id == campaign_id)
    if status:
        stmt = stmt.where(AdSet.status == status)
    if account_id is not None or network:
        stmt = stmt.join(Campaign, Campaign.id == AdSet.campaign_id)
        if account_id is not None:
            stmt = stmt.where(Campaign.account_id == account_id)
        if network:
            stmt = stmt.where(Campaign.network == network)
    return paginate(session, stmt, page)


@dataclass(frozen=True)
class SeriesPoint:
    date: dt.date
    currency: str
    spend: Any
    impressions: int
    clicks: int
    conversions: Any
    revenue: Any


def metric_series(
    session: Session, *, start: dt.date, end: dt.date, campaign_id: int | None = None,
    account_id: int | None = None, network: str | None = None,
) -> list[SeriesPoint]:
    """Daily totals (per account currency: amounts in different currencies never add up)."""
    if end < start:
        raise ValidationError("end is before start")
    if (end - start).days > MAX_SERIES_DAYS:
        raise ValidationError(f"a series covers at most {MAX_SERIES_DAYS} days")
    m = DailyMetric
    stmt = (
        select(
            m.date, AdAccount.currency, func.sum(m.spend), func.sum(m.impressions),
            func.sum(m.clicks), func.sum(m.conversions), func.sum(m.revenue),
        )
        .join(AdAccount, AdAccount.id == m.account_id)
        .where(m.date >= start, m.date <= end)
        .group_by(m.date, AdAccount.currency)
        .order_by(m.date, AdAccount.currency)
    )
    if campaign_id is not None:
        stmt = stmt.where(m.campaign_id == campaign_id)
    if account_id is not None:
        stmt = stmt.where(m.account_id == account_id)
    if network:
        stmt = stmt.where(AdAccount.network == network)
    return [
        SeriesPoint(d, cur, spend, int(imp or 0), int(clk or 0), conv, rev)
        for d, cur, spend, imp, clk, conv, rev in session.execute(stmt)
    ]


def list_sync_runs(
    session: Session, page: Page, *, account_id: int | None = None, status: str | None = None,
    stream: str | None = None, source: str | None = None,
) -> tuple[list[SyncRun], int]:
    stmt = select(SyncRun).order_by(SyncRun.id.desc())  # type: ignore[union-attr]
    if account_id is not None:
        stmt = stmt.where(SyncRun.account_id == account_id)
    if status:
        stmt = stmt.where(SyncRun.status == status)
    if stream:
        stmt = stmt.where(SyncRun.stream == stream)
    if source:
        stmt = stmt.where(SyncRun.source == source)
    return paginate(session, stmt, page)


def list_audit(
    session: Session, page: Page, *, entity_type: str | None = None,
    entity_id: str | None = None, actor: str | None = None, action: str | None = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
) -> tuple[list[AuditEvent], int]:
    e = AuditEvent
    stmt = select(e).order_by(e.id.desc())  # type: ignore[union-attr]
    if entity_type:
        stmt = stmt.where(e.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(e.entity_id == entity_id)
    if actor:
        stmt = stmt.where(e.actor == actor)
    if action:
        stmt = stmt.where(e.action == action)
    if since:
        stmt = stmt.where(e.at >= since)
    if until:
        stmt = stmt.where(e.at < until)
    return paginate(session, stmt, page)
