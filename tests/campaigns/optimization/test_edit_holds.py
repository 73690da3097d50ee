"""A budget edited `max_edits_per_week` times in the last 7 days is held, saying so; once
the oldest edit is more than 7 days old it moves again. Explicit clocks throughout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings
from campaigns.models import Campaign, DailyMetric, ShiftItem
from campaigns.optimization.proposals import propose
from tests.api.factories import create_account, create_campaign, get_portfolio
from tests.campaigns.optimization.test_proposals_service import _apply

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
FIRST_EDIT = NOW - dt.timedelta(days=6, hours=12)
SECOND_EDIT = NOW - dt.timedelta(days=1)


def _portfolio(session: Session) -> list[Campaign]:
    """Four EUR campaigns with 80 days of varied spend up to the day before NOW."""
    get_portfolio(session)
    account = create_account(session, currency="EUR")
    rng = np.random.default_rng(5)
    campaigns = []
    for k in range(4):
        campaign = create_campaign(session, account=account, daily_budget="100")
        for i in range(80):
            day = NOW.date() - dt.timedelta(days=i + 1)
            spend = 100 * (1 + 0.3 * k) * rng.uniform(0.5, 1.5)
            conv = 3 * (1 + k) * spend / (spend + 100) * rng.uniform(0.8, 1.2)
            session.add(DailyMetric(campaign_id=campaign.id, account_id=account.id, date=day,
                                    spend=Decimal(f"{spend:.2f}"),
                                    conversions=Decimal(f"{conv:.4f}"),
                                    revenue=Decimal(f"{conv * 40:.2f}")))
        campaigns.append(campaign)
    session.flush()
    return campaigns


def _settings() -> Settings:
    return Settings.model_validate({"optimizer": {
        "exploration": "none", "edit_cost": 0, "min_prob_gain": 0, "max_edits_per_week": 2}})


def test_a_budget_at_its_weekly_edit_limit_is_held_and_moves_a_day_later(
    engine: Engine,
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        campaigns = _portfolio(session)
        total = 4 * 100 * 1.5  # money to spare: every budget free to move grows
        for at in (FIRST_EDIT, SECOND_EDIT):
            result = propose(session, _settings(), total_budget=total, now=at)
            assert result.shift_id is not None
            _apply(session, result.shift_id, at)
            session.commit()
        edits = dict(session.execute(
            select(ShiftItem.campaign_id, func.count()).where(ShiftItem.status == "applied")
            .group_by(ShiftItem.campaign_id)).all())
        twice = {c.external_id for c in campaigns if edits.get(c.id) == 2}
        assert twice, "the two runs edited some budget twice"

        result = propose(session, _settings(), total_budget=total, now=NOW)
        session.commit()
        by_id = {a.campaign_id: a for a in result.allocations}
        for cid, a in by_id.items():
            if cid in twice:
                assert a.reason == "held: 2 edits in the last 7 days (limit 2)"
                assert a.binding_limit == "edits_per_week"
                assert a.proposed_budget == a.current_budget
            else:
                assert a.binding_limit != "edits_per_week"
        assert result.edits is not None and result.edits.held_edits_per_week == len(twice)
        assert result.to_json()["edits"]["max_per_week"] == 2

        # A day later the first edit is 7.5 days old: one edit in the window, free again.
        later = propose(session, _settings(), total_budget=total,
                        now=NOW + dt.timedelta(days=1))
        again = {a.campaign_id: a for a in later.allocations}
        assert all(again[cid].binding_limit != "edits_per_week" for cid in twice)
        assert any(again[cid].proposed_budget > again[cid].current_budget for cid in twice)
