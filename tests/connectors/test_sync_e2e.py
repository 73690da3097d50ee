"""The sync engine driving both connectors against the fakes, into SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import grpc
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import AdAccount, Campaign, DailyMetric, SyncRun

D = Decimal
NOW = dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
FIRST = dt.date(2025, 3, 1)  # history_days = 30 before 2025-03-31
DAYS = [FIRST + dt.timedelta(days=i) for i in range(30)]


def _settings(kind: str):
    return settings_from_dict(
        {
            "sync": {"lookback_days": 7, "history_days": 30},
            "sources": [{"name": kind, "kind": kind}],
        }
    )


def _metrics(engine: Engine) -> dict[tuple[str, dt.date], DailyMetric]:
    with Session(engine) as s:
        rows = s.execute(
            select(Campaign.external_id, DailyMetric).join(
                Campaign, Campaign.id == DailyMetric.campaign_id
            )
        ).all()
    return {(ext, m.date): m for ext, m in rows}


def test_meta_sync_restates_throttles_and_isolates_a_refused_account(engine, graph, make_meta):
    st = graph.state
    st.add_account("act_1", currency="EUR", timezone="Europe/Berlin")
    st.add_account("act_2", currency="JPY", timezone="Asia/Tokyo")
    st.add_account("act_3")
    st.account_errors["act_3"] = (
        190,
        460,
        400,
        "Error validating access token: the session has been invalidated",
    )
    for act, prefix in (("act_1", "e"), ("act_2", "j")):
        for i in range(12):
            cid = st.add_campaign(
                act, f"{prefix}{i}", daily_budget=5000, status="ARCHIVED" if i == 11 else "ACTIVE"
            )
            for day in DAYS:
                st.set_metric(
                    cid,
                    day,
                    spend="10.00",
                    impressions=100,
                    clicks=5,
                    purchases="2",
                    purchase_value="50.00",
                )
    settings = _settings("meta")
    # Throttled twice in the middle of reading report pages: backs off and resumes.
    st.fail("/insights", method="GET", skip=5, times=2, code=17, subcode=2446079)
    meta = make_meta(page_size=50, insights_chunk_days=10)
    report = sync_source(engine, settings, settings.sources[0], meta, now=NOW)
    failed = {(o.account, o.stream) for o in report.failed}
    assert failed == {("meta:act_3", "entities")}
    assert "[auth]" in report.failed[0].error
    metrics = _metrics(engine)
    assert len(metrics) == 2 * 12 * 30  # archived campaign included, nothing lost
    assert metrics[("j3", FIRST)].spend == D("10.00")

    # Conversions restate: inside the 7-day lookback they overwrite, outside they are not re-read.
    st.set_metric("e1", dt.date(2025, 3, 28), spend="10.00", purchases="5", purchase_value="90.00")
    st.set_metric("e1", dt.date(2025, 3, 10), spend="10.00", purchases="9", purchase_value="99.00")
    report = sync_source(engine, settings, settings.sources[0], meta, now=NOW)
    metrics = _metrics(engine)
    assert len(metrics) == 2 * 12 * 30  # upserted, never duplicated
    assert metrics[("e1", dt.date(2025, 3, 28))].conversions == D(5)
    assert metrics[("e1", dt.date(2025, 3, 28))].revenue == D(90)
    assert metrics[("e1", dt.date(2025, 3, 10))].conversions == D(2)
    with Session(engine) as s:
        windows = (
            s.execute(
                select(SyncRun.window_start).where(
                    SyncRun.stream == "metrics", SyncRun.status == "succeeded"
                )
            )
            .scalars()
            .all()
        )
        assert dt.date(2025, 3, 24) in windows
        yen = s.scalars(select(Campaign).where(Campaign.external_id == "j0")).one()
        assert yen.daily_budget == D(5000)  # JPY: minor unit = 1 yen


def test_google_sync_restates_and_keeps_the_other_customer(engine, gads, make_gads) -> None:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", tz="Europe/Paris", parent="1000000001")
    st.add_customer("3000000003", currency="USD", tz="America/New_York", parent="1000000001")
    st.add_budget("2000000002", "900", 30_000_000, shared=True)
    for i in range(5):
        cid = st.add_campaign(
            "2000000002",
            str(500 + i),
            "900" if i < 2 else st.add_budget("2000000002", str(800 + i), 10_000_000),
        )
        for day in DAYS:
            st.set_metric(
                "2000000002",
                cid,
                day,
                cost_micros=7_500_000,
                impressions=100,
                clicks=3,
                conversions=1.0,
                value=20.0,
            )
    st.add_campaign("3000000003", "600", st.add_budget("3000000003", "601", 1_000_000))
    # The second customer's stream is refused (its access was removed under the manager).
    st.fail(
        "SearchStream",
        customer="3000000003",
        code=grpc.StatusCode.PERMISSION_DENIED,
        error=("authorization_error", "USER_PERMISSION_DENIED"),
        message="User doesn't have permission to access customer.",
        times=100,
    )
    # And an internal error breaks the metrics stream half-way once.
    st.fail(
        "SearchStream",
        customer="2000000002",
        match="segments.date",
        after_rows=70,
        code=grpc.StatusCode.INTERNAL,
        error=None,
        message="Internal",
    )
    settings = _settings("google_ads")
    connector = make_gads()
    report = sync_source(engine, settings, settings.sources[0], connector, now=NOW)
    assert {(o.account, o.stream) for o in report.failed} == {("google_ads:3000000003", "entities")}
    metrics = _metrics(engine)
    assert len(metrics) == 5 * 30 and metrics[("500", FIRST)].spend == D("7.5")
    with Session(engine) as s:
        shared = s.scalars(select(Campaign).where(Campaign.external_id == "501")).one()
        assert (shared.budget_level, shared.budget_external_id, shared.budget_shared) == (
            "shared",
            "900",
            True,
        )
        assert s.scalar(select(func.count()).select_from(AdAccount)) == 2

    st.set_metric(
        "2000000002",
        "502",
        dt.date(2025, 3, 29),
        cost_micros=7_500_000,
        conversions=4.5,
        value=80.0,
    )
    sync_source(engine, settings, settings.sources[0], connector, now=NOW)
    metrics = _metrics(engine)
    assert len(metrics) == 5 * 30
    assert metrics[("502", dt.date(2025, 3, 29))].conversions == D("4.5")
