"""Meta's reach and ``actions`` types, and Google's engagements and views, reach the daily
metric table through a sync; a count the platform did not send stays NULL, not 0."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import AccountDay, Campaign, DailyMetric

NOW = dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
DAY = dt.date(2025, 3, 20)
SOCIAL = {"post_engagement": 40, "post_reaction": 12, "comment": 3, "post": 2,
          "video_view": 25, "like": 1}  # fmt: skip


def _rows(engine: Engine) -> dict[str, DailyMetric]:
    with Session(engine) as s:
        found = s.execute(
            select(Campaign.external_id, DailyMetric)
            .join(Campaign, Campaign.id == DailyMetric.campaign_id)
            .where(DailyMetric.date == DAY)
        ).all()
    return {ext: m for ext, m in found}


def test_reach_and_actions_types_are_stored_per_campaign_day(engine, graph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR", timezone="Europe/Berlin")
    social = st.add_campaign("act_1", "social", daily_budget=5000)
    plain = st.add_campaign("act_1", "plain", daily_budget=5000)
    st.set_metric(social, DAY, spend="10.00", impressions=1000, clicks=9, purchases="2",
                  reach=800, social=SOCIAL)
    st.set_metric(plain, DAY, spend="5.00", impressions=500, clicks=4)
    settings = settings_from_dict({"sync": {"lookback_days": 15, "history_days": 30},
                                   "sources": [{"name": "meta", "kind": "meta"}]})
    sync_source(engine, settings, settings.sources[0], make_meta(), now=NOW)

    rows = _rows(engine)
    got = rows[social]
    assert (got.reach, got.engagements, got.reactions, got.comments, got.shares,
            got.video_views, got.follows) == (800, 40, 12, 3, 2, 25, 1)
    assert got.conversions == 2  # the purchase still counts as a conversion, social does not
    bare = rows[plain]
    assert (bare.reach, bare.engagements, bare.shares, bare.follows) == (None,) * 4
    with Session(engine) as s:
        day = s.get(AccountDay, (got.account_id, DAY))
    assert day is not None and day.reach == 800 and day.engagements == 40
    assert day.impressions == 1500

    # A second sync with the same answers changes nothing.
    before = {k: (m.updated_at, m.reach) for k, m in rows.items()}
    sync_source(engine, settings, settings.sources[0], make_meta(), now=NOW)
    assert {k: (m.updated_at, m.reach) for k, m in _rows(engine).items()} == before


def test_only_requested_fields_come_back(graph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1")
    cid = st.add_campaign("act_1", "c", daily_budget=100)
    st.set_metric(cid, DAY, spend="1.00", impressions=10, reach=7, social={"post": 1})
    [record] = list(make_meta().daily_metrics("act_1", DAY, DAY))
    assert record.reach == 7 and record.shares == 1 and record.engagements is None


def test_google_engagements_and_video_views_reach_the_table(engine, gads, make_gads) -> None:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", tz="Europe/Paris", parent="1000000001")
    cid = st.add_campaign("2000000002", "500", st.add_budget("2000000002", "900", 10_000_000))
    st.set_metric("2000000002", cid, DAY, cost_micros=7_500_000, impressions=100, clicks=3,
                  engagements=17, video_views=9)
    settings = settings_from_dict({"sync": {"lookback_days": 15, "history_days": 30},
                                   "sources": [{"name": "google", "kind": "google_ads"}]})
    sync_source(engine, settings, settings.sources[0], make_gads(), now=NOW)
    got = _rows(engine)["500"]
    assert (got.engagements, got.video_views) == (17, 9)
    assert (got.reach, got.reactions, got.shares) == (None, None, None)  # Google sends none


def test_sandbox_social_counts_are_plausible_and_deterministic() -> None:
    from connectors.sandbox import SandboxConnector

    start, end = dt.date(2025, 3, 1), dt.date(2025, 3, 14)
    a = list(SandboxConnector(seed=3, now=NOW).daily_metrics("act_1001", start, end))
    b = list(SandboxConnector(seed=3, now=NOW).daily_metrics("act_1001", start, end))
    assert a == b and a
    for m in a:
        assert m.reach is not None and m.engagements is not None and m.reactions is not None
        assert m.reach <= m.impressions and m.engagements >= m.clicks
        assert m.reactions + (m.comments or 0) + (m.shares or 0) <= m.engagements
    sandbox = SandboxConnector(seed=3, now=NOW)
    kinds = {c.external_id: c.result_kind for c in sandbox.list_campaigns("act_1001")}
    busy = [m for m in a if m.impressions > 1000 and kinds[m.campaign_external_id] != "reach"]
    assert busy and all(1.5 <= m.impressions / (m.reach or 1) <= 2.6 for m in busy)
    # An awareness campaign buys reach: fewer impressions per person, and fewer people per
    # euro as its spend rises (its reach saturates).
    brand = sorted((m for m in a if kinds[m.campaign_external_id] == "reach"),
                   key=lambda m: m.spend)
    assert brand and all(m.impressions / (m.reach or 1) >= 1.2 for m in brand)
    per_euro = [float(m.reach or 0) / float(m.spend) for m in brand]
    assert per_euro[0] > per_euro[-1]
