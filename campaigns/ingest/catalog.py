"""Read queries behind the API: accounts, campaigns, ad sets, metrics, sync runs, audit.

Every list takes its filters and a page, and returns the page with the total count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

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
    stmt = select(AdAccount).order_by(col(AdAccount.id))
    if network:
        stmt = stmt.where(col(AdAccount.network) == network)
    if status:
        stmt = stmt.where(col(AdAccount.status) == status)
    if portfolio:
        stmt = stmt.where(col(AdAccount.portfolio_id) == get_portfolio(session, portfolio).id)
    return paginate(session, stmt, page)


def list_campaigns(
    session: Session, page: Page, *, network: str | None = None, account_id: int | None = None,
    status: str | None = None, portfolio: str | None = None,
) -> tuple[list[Campaign], int]:
    stmt = select(Campaign).order_by(col(Campaign.id))
    if network:
        stmt = stmt.where(col(Campaign.network) == network)
    if account_id is not None:
        stmt = stmt.where(col(Campaign.account_id) == account_id)
    if status:
        stmt = stmt.where(col(Campaign.status) == status)
    if portfolio:
        pid = get_portfolio(session, portfolio).id
        stmt = stmt.join(AdAccount, col(AdAccount.id) == col(Campaign.account_id)).where(
            col(AdAccount.portfolio_id) == pid
        )
    return paginate(session, stmt, page)


def list_adsets(
    session: Session, page: Page, *, campaign_id: int | None = None,
    account_id: int | None = None, network: str | None = None, status: str | None = None,
) -> tuple[list[AdSet], int]:
    stmt = select(AdSet).order_by(col(AdSet.id))
    if campaign_id is not None:
        stmt = stmt.where(col(AdSet.campaign_id) == campaign_id)
    if status:
        stmt = stmt.where(col(AdSet.status) == status)
    if account_id is not None or network:
        stmt = stmt.join(Campaign, col(Campaign.id) == col(AdSet.campaign_id))
        if account_id is not None:
            stmt = stmt.where(col(Campaign.account_id) == account_id)
        if network:
            stmt = stmt.where(col(Campaign.network) == network)
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
            col(m.date), col(AdAccount.currency), func.sum(col(m.spend)),
            func.sum(col(m.impressions)), func.sum(col(m.clicks)), func.sum(col(m.conversions)),
            func.sum(col(m.revenue)),
        )
        .join(AdAccount, col(AdAccount.id) == col(m.account_id))
        .where(col(m.date) >= start, col(m.date) <= end)
        .group_by(col(m.date), col(AdAccount.currency))
        .order_by(col(m.date), col(AdAccount.currency))
    )
    if campaign_id is not None:
        stmt = stmt.where(col(m.campaign_id) == campaign_id)
    if account_id is not None:
        stmt = stmt.where(col(m.account_id) == account_id)
    if network:
        stmt = stmt.where(col(AdAccount.network) == network)
    return [
        SeriesPoint(d, cur, spend, int(imp or 0), int(clk or 0), conv, rev)
        for d, cur, spend, imp, clk, conv, rev in session.execute(stmt)
    ]


def list_sync_runs(
    session: Session, page: Page, *, account_id: int | None = None, status: str | None = None,
    stream: str | None = None, source: str | None = None,
) -> tuple[list[SyncRun], int]:
    stmt = select(SyncRun).order_by(col(SyncRun.id).desc())
    if account_id is not None:
        stmt = stmt.where(col(SyncRun.account_id) == account_id)
    if status:
        stmt = stmt.where(col(SyncRun.status) == status)
    if stream:
        stmt = stmt.where(col(SyncRun.stream) == stream)
    if source:
        stmt = stmt.where(col(SyncRun.source) == source)
    return paginate(session, stmt, page)


def list_audit(
    session: Session, page: Page, *, entity_type: str | None = None,
    entity_id: str | None = None, actor: str | None = None, action: str | None = None,
    since: dt.datetime | None = None, until: dt.datetime | None = None,
) -> tuple[list[AuditEvent], int]:
    e = AuditEvent
    stmt = select(e).order_by(col(e.id).desc())
    if entity_type:
        stmt = stmt.where(col(e.entity_type) == entity_type)
    if entity_id:
        stmt = stmt.where(col(e.entity_id) == entity_id)
    if actor:
        stmt = stmt.where(col(e.actor) == actor)
    if action:
        stmt = stmt.where(col(e.action) == action)
    if since:
        stmt = stmt.where(col(e.at) >= since)
    if until:
        stmt = stmt.where(col(e.at) < until)
    return paginate(session, stmt, page)
