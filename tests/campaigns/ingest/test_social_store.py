"""The store writes the social counts on both paths (bound rows and PostgreSQL's COPY),
keeps NULL apart from 0, and leaves them alone when a writer carries none."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.ingest.metrics_store import COPY_THRESHOLD, refresh_account_days, upsert_metrics
from campaigns.models import AccountDay, DailyMetric
from tests.api.factories import create_account, create_campaign

DAY0 = dt.date(2025, 1, 1)


@pytest.mark.parametrize("days", [3, COPY_THRESHOLD + 10])
def test_social_counts_round_trip(engine: Engine, days: int) -> None:
    with Session(engine) as s:
        campaign = create_campaign(s, account=create_account(s))
        rows = [{"campaign_id": campaign.id, "account_id": campaign.account_id,
                 "date": DAY0 + dt.timedelta(days=i), "spend": Decimal("1.50"),
                 "impressions": 100, "clicks": 1, "conversions": Decimal(0),
                 "revenue": Decimal(0), "reach": 80 if i % 2 else None, "shares": 0}
                for i in range(days)]
        upsert_metrics(s, rows)
        refresh_account_days(s, [campaign.account_id], DAY0, DAY0 + dt.timedelta(days=days))
        s.commit()
        got = s.scalars(select(DailyMetric).order_by(DailyMetric.date)).all()
        assert [m.reach for m in got[:2]] == [None, 80]
        assert {m.shares for m in got} == {0} and {m.follows for m in got} == {None}
        first = s.get(AccountDay, (campaign.account_id, DAY0))
        assert first is not None and first.reach is None and first.shares == 0

        # A writer without social columns (an older CSV) keeps what is stored.
        plain = [{k: v for k, v in r.items() if k not in ("reach", "shares")} | {"clicks": 2}
                 for r in rows]
        upsert_metrics(s, plain)
        s.commit()
        s.expire_all()
        again = s.scalars(select(DailyMetric).order_by(DailyMetric.date)).all()
        assert [m.reach for m in again[:2]] == [None, 80] and again[0].clicks == 2
