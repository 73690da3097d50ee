"""Google Ads campaign budgets from sync to write-back: synced from the gRPC fake, proposed by
the optimiser, approved, applied with ``campaigns.shifts.writeback.apply_items``: the budgets on the
platform move, each by one mutation of its own budget resource (not the campaign's id)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.admin.auth import Principal
from campaigns.config import settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import Campaign, ShiftItem
from campaigns.optimization.proposals import propose
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.writeback import apply_items
from tests.connectors.fake_gads import FakeGoogleAds

D = Decimal
NOW = dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC)
CUSTOMER = "2000000002"


def _world(gads: FakeGoogleAds) -> dict[str, str]:
    """Four campaigns with budgets of their own and two sharing one; ~100 days of history.

    Returns campaign id -> budget id, both drawn by the fake from their own sequences.
    """
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer(CUSTOMER, currency="EUR", tz="Europe/Paris", parent="1000000001")
    budgets: dict[str, str] = {}
    shared = st.add_budget(CUSTOMER, None, 80_000_000, shared=True)
    for k in range(6):
        bid = shared if k >= 4 else st.add_budget(CUSTOMER, None, (40 + 10 * k) * 1_000_000)
        cid = st.add_campaign(CUSTOMER, None, bid)
        budgets[cid] = bid
        ceiling, half = 4.0 + 3 * k, 30.0 + 25 * (k % 3)  # different returns per campaign
        for d in range(110):
            day = NOW.date() - dt.timedelta(days=d + 1)
            spend = (30 + 8 * k) * (0.6 + 0.08 * ((d * 7 + k * 3) % 10))
            conversions = ceiling * spend / (spend + half)
            st.set_metric(
                CUSTOMER, cid, day, cost_micros=int(spend * 100) * 10_000,
                impressions=int(spend * 40), clicks=int(spend), conversions=conversions,
                value=conversions * 60,
            )
    return budgets


def test_synced_campaign_budgets_are_proposed_approved_and_applied(
    engine: Engine, gads: FakeGoogleAds, make_gads
) -> None:
    budgets = _world(gads)
    assert not set(budgets) & set(budgets.values())  # the API's ids, never the same number
    settings = settings_from_dict({
        "sync": {"history_days": 110, "lookback_days": 7},
        "sources": [{"name": "google", "kind": "google_ads"}],
        "optimizer": {"objective": "conversions", "max_change": 0.2},
    })
    connector = make_gads()
    report = sync_source(engine, settings, settings.sources[0], connector, now=NOW)
    assert report.ok, report.failed
    with Session(engine) as s:
        stored = dict(s.execute(select(Campaign.external_id, Campaign.budget_external_id)).all())
    assert stored == budgets  # the sync keeps each campaign's budget id

    with Session(engine) as s:
        result = propose(s, settings, today=NOW.date(), now=NOW, created_by="optimizer")
        s.commit()
    shift_id = result["shift_id"]
    assert shift_id is not None
    with Session(engine) as s:
        view = shifts.approve(
            s, shift_id, version=1, user=Principal("manager", "manager"), policy=ShiftPolicy(),
            now=NOW,
        )
        s.commit()
        items = [(i.level, i.target_external_id, i.new_budget) for i in view.items]
    own = [i for i in items if i[0] == "campaign"]
    assert own, items  # budgets of their own are proposed, by their budget ids
    assert {target for _, target, _ in items} <= set(budgets.values())

    applied = apply_items(engine, shift_id, lambda account: connector, actor="tester", now=NOW)
    assert (applied.failed, applied.status) == (0, "applied"), applied.errors
    with Session(engine) as s:
        rows = s.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift_id)).all()
        assert {r.status for r in rows} <= {"applied", "skipped"}
    mutated = gads.state.applied_mutations()
    for _, target, new_budget in items:
        micros = gads.state.budgets[(CUSTOMER, target)]["amount_micros"]
        assert D(micros) / 1_000_000 == D(new_budget).quantize(D("0.01"))
        assert mutated[(CUSTOMER, target)] == 1  # one edit per budget
