"""The history `optimize` fits on, read straight from the driver's cursor, is row for row what
the ORM reads: each campaign's metrics in the window, split across its ad-set budgets by
share, a shared budget's campaigns on one unit, unreported social counts as NaN, paused
campaigns and days outside the window left out. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns.models import AdSet, Campaign, DailyMetric
from campaigns.optimization.inputs import RESULT_COLUMNS, Unit, load_portfolio_data
from tests.api.factories import create_account, create_adset, create_campaign, get_portfolio

TODAY = dt.date(2026, 11, 20)
DAYS = 12


def _fill(session: Session) -> None:
    get_portfolio(session)
    rng = np.random.default_rng(5)
    meta = create_account(session, network="meta", currency="EUR")
    google = create_account(session, network="google", currency="JPY")
    plain = [create_campaign(session, account=a, daily_budget=b)
             for a, b in ((meta, "80"), (meta, "45.5"), (google, "9000"))]
    split = create_campaign(session, account=meta, daily_budget="60")
    split.budget_level = "adset"
    create_adset(session, campaign=split, daily_budget="10")
    create_adset(session, campaign=split, daily_budget="30")
    shared = [create_campaign(session, account=google, daily_budget="5000") for _ in range(2)]
    for c in shared:
        c.budget_level, c.budget_external_id = "shared", "b-1"
    paused = create_campaign(session, account=meta, daily_budget="70", status="paused")
    for campaign in [*plain, split, *shared, paused]:
        # Two days on each side of the window, which is [TODAY - DAYS, TODAY).
        for offset in range(-2, DAYS + 2):
            day = TODAY - dt.timedelta(days=DAYS - offset)
            reported = rng.random() < 0.5
            session.add(DailyMetric(
                campaign_id=campaign.id, account_id=campaign.account_id, date=day,
                spend=Decimal(f"{rng.uniform(1, 900):.6f}"),
                conversions=Decimal(f"{rng.uniform(0, 9):.4f}"),
                revenue=Decimal(f"{rng.uniform(0, 4000):.2f}"),
                reach=int(rng.integers(0, 10**6)) if reported else None,
                engagements=int(rng.integers(0, 500)) if reported else None,
                video_views=None if reported else int(rng.integers(0, 90)),
            ))
    session.flush()


def _orm_history(session: Session, units: list[Unit], start: dt.date) -> pd.DataFrame:
    """The old semantics, from ORM rows: every metric row of a unit's campaigns in
    [start, TODAY), as floats, times the unit's share of the campaign."""
    rows = []
    for unit in units:
        metrics = session.scalars(
            select(DailyMetric).where(col(DailyMetric.campaign_id).in_(unit.campaign_ids),
                                      col(DailyMetric.date) >= start,
                                      col(DailyMetric.date) < TODAY))
        for m in metrics:
            share = unit.shares.get(m.campaign_id, 1.0)
            rows.append({
                "unit_id": unit.unit_id, "network": unit.network,
                "date": pd.Timestamp(m.date), "campaign": m.campaign_id,
                "spend": float(m.spend) * share, "conversions": float(m.conversions) * share,
                "revenue": float(m.revenue) * share, "clicks": float(m.clicks) * share,
                **{k: np.nan if getattr(m, c) is None else float(getattr(m, c)) * share
                   for k, c in RESULT_COLUMNS.items()},
            })
    return pd.DataFrame(rows)


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


def test_history_from_the_cursor_equals_the_orm_reading(engine: Engine) -> None:
    with Session(engine) as session:
        _fill(session)
        portfolio = get_portfolio(session)
        data = load_portfolio_data(session, portfolio, today=TODAY, days=DAYS, results=True)
        expected = _orm_history(session, data.units, TODAY - dt.timedelta(days=DAYS))
        paused = session.scalars(select(Campaign).where(Campaign.status == "paused")).one()
        n_adsets = len(session.scalars(select(AdSet)).all())

    got = data.history
    assert list(got.columns) == ["unit_id", "network", "date", "spend", "conversions",
                                 "revenue", "clicks", *RESULT_COLUMNS]
    # Three plain campaigns, two ad-set budgets, one shared budget of two campaigns.
    assert len(data.units) == 3 + n_adsets + 1
    assert paused.id not in {c for u in data.units for c in u.campaign_ids}
    assert len(got) == len(expected) == (3 + n_adsets + 2) * DAYS
    assert got["date"].min() == pd.Timestamp(TODAY - dt.timedelta(days=DAYS))
    assert got["date"].max() == pd.Timestamp(TODAY - dt.timedelta(days=1))
    # Same rows, same values to the last bit. A shared budget's two campaigns both land on
    # its unit on each day, so campaigns are told apart by spend within (unit, date).
    keys = ["unit_id", "date", "spend"]
    want = _sorted(expected.drop(columns="campaign"), keys)
    have = _sorted(got, keys)
    pd.testing.assert_frame_equal(have.astype({"unit_id": object, "network": object}),
                                  want.astype({"unit_id": object, "network": object}),
                                  check_exact=True, check_dtype=False)
    assert have["reach"].isna().any() and have["video_views"].notna().any()

