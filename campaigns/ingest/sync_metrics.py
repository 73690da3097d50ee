"""The metrics stream of a sync: which days to read, and loading them in batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.ingest.metrics_store import refresh_account_days, upsert_metric_tuples
from campaigns.ingest.store import ensure_campaigns
from campaigns.models import AdAccount, Campaign, SyncRun
from connectors.base import Connector, MetricRecord

METRIC_BATCH = 5000


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (KeyError, ValueError):
        return now.astimezone(dt.UTC).date()


def metrics_window(
    session: Session, account: AdAccount, *, today: dt.date, lookback_days: int,
    history_days: int,
) -> tuple[dt.date, dt.date]:
    """Complete days to read: from history's start on the first sync, else the lookback."""
    end = today - dt.timedelta(days=1)
    first = today - dt.timedelta(days=history_days)
    last_end = session.scalars(
        select(col(SyncRun.window_end))
        .where(
            col(SyncRun.account_id) == account.id,
            col(SyncRun.stream) == "metrics",
            col(SyncRun.status) == "succeeded",
        )
        .order_by(col(SyncRun.window_end).desc())
        .limit(1)
    ).first()
    if last_end is None:
        return first, end
    return max(first, min(last_end, end) - dt.timedelta(days=lookback_days - 1)), end


def load_metrics(
    session: Session, connector: Connector, acc: AdAccount, start: dt.date, end: dt.date,
    records: Iterable[MetricRecord] | None = None, *, observed_at: dt.datetime | None = None,
) -> int:
    """Upsert the account's daily metrics of ``start``..``end`` in batches (``records``, read
    from the platform already; else read now); the rows written.

    Days whose conversions or revenue changed are kept as observations at ``observed_at``
    (the sync's clock; default now)."""
    known: dict[str, int] = {
        ext: cid
        for ext, cid in session.execute(
            select(col(Campaign.external_id),
                   col(Campaign.id)).where(col(Campaign.account_id) == acc.id)
        ).all()
    }
    total = 0
    # Rows go to the upsert as tuples in its column order: one dict per row and a second
    # pass to build tuples cost as much as the database at 50,000 campaigns.
    batch: dict[tuple[int, dt.date], tuple] = {}
    for m in (records if records is not None
              else connector.daily_metrics(acc.external_id, start, end)):
        cid = known.get(m.campaign_external_id)
        if cid is None:
            ensure_campaigns(session, acc, [m.campaign_external_id], known)
            cid = known[m.campaign_external_id]
        # The last value for a campaign-day in a batch wins: ON CONFLICT cannot touch a row
        # twice.
        batch[(cid, m.date)] = (cid, acc.id, m.date, m.spend, m.impressions, m.clicks,
                                m.conversions, m.revenue, m.reach, m.video_views,
                                m.engagements, m.reactions, m.comments, m.shares, m.follows)
        if len(batch) >= METRIC_BATCH:
            total += upsert_metric_tuples(
                session, list(batch.values()), with_budget=False, with_social=True,
                source="sync", observed_at=observed_at,
            )
            batch = {}
    total += upsert_metric_tuples(
        session, list(batch.values()), with_budget=False, with_social=True,
        source="sync", observed_at=observed_at,
    )
    assert acc.id is not None  # read from the table
    refresh_account_days(session, [acc.id], start, end)
    return total
