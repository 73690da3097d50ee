"""Period reach from Meta's own period query: the fake answers a query over a whole range
without ``time_increment`` with one row per object (as Graph documents it), the sync stores
it, and the KPI report shows it instead of summed daily reach — and says when it cannot."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import settings_from_dict
from campaigns.ingest.period_reach import reach_periods
from campaigns.ingest.sync import sync_source
from campaigns.models import PeriodReach
from campaigns.reports.kpis import kpi_report

NOW = dt.datetime(2025, 3, 21, 12, tzinfo=dt.UTC)  # the 20th is the last complete day
D = dt.date
SETTINGS = {"sync": {"lookback_days": 15, "history_days": 30},
            "sources": [{"name": "meta", "kind": "meta"}]}


def _world(graph) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    st = graph.state
    st.add_account("act_1", currency="EUR", timezone="UTC")
    a = st.add_campaign("act_1", "a", daily_budget=5000)
    b = st.add_campaign("act_1", "b", daily_budget=5000)
    for i in range(20):
        day = D(2025, 3, 1) + dt.timedelta(days=i)
        st.set_metric(a, day, spend="10.00", impressions=1000, clicks=9, reach=600,
                      social={"post_engagement": 30})
        st.set_metric(b, day, spend="5.00", impressions=400, clicks=4, reach=300)
    # Each person once over the month to date: far fewer than 20 days x 900.
    st.set_period_reach("act_1", D(2025, 3, 1), D(2025, 3, 20), 4100)
    st.set_period_reach(a, D(2025, 3, 1), D(2025, 3, 20), 3000)
    st.set_period_reach(b, D(2025, 3, 1), D(2025, 3, 20), 1500)
    return a, b


def test_the_fake_answers_a_range_without_time_increment_as_one_row(graph, make_meta) -> None:
    a, b = _world(graph)
    meta = make_meta()
    records = meta.period_reach("act_1", D(2025, 3, 1), D(2025, 3, 20))
    got = {(r.campaign_external_id, r.start, r.end): (r.reach, r.impressions) for r in records}
    assert got == {
        (None, D(2025, 3, 1), D(2025, 3, 20)): (4100, 28000),
        (a, D(2025, 3, 1), D(2025, 3, 20)): (3000, 20000),
        (b, D(2025, 3, 1), D(2025, 3, 20)): (1500, 8000),
    }
    # The daily query still answers one row per campaign and day, each day's own reach.
    daily = list(meta.daily_metrics("act_1", D(2025, 3, 1), D(2025, 3, 2)))
    assert len(daily) == 4 and {m.reach for m in daily} == {600, 300}
    assert graph.state.requests["GET /act_1/insights"] == 2  # one per level, not per day


def test_sync_stores_period_reach_and_the_kpi_report_uses_it(
    engine: Engine, graph, make_meta  # type: ignore[no-untyped-def]
) -> None:
    _world(graph)
    settings = settings_from_dict(SETTINGS)
    sync_source(engine, settings, settings.sources[0], make_meta(), now=NOW)
    with Session(engine) as s:
        stored = {(r.campaign_id is None, r.start, r.end): r.reach
                  for r in s.scalars(select(PeriodReach))}
        assert stored[(True, D(2025, 3, 1), D(2025, 3, 20))] == 4100
        month = kpi_report(s, portfolio="default", start=D(2025, 3, 1), end=D(2025, 3, 31),
                           group_by="account")
        [row] = month.rows
        assert row.totals.reach == 4100 and row.reach_estimated is False
        assert row.rates.frequency == 28000 / 4100
        by_campaign = kpi_report(s, portfolio="default", start=D(2025, 3, 1),
                                 end=D(2025, 3, 20), group_by="campaign")
        assert [(r.totals.reach, r.reach_estimated) for r in by_campaign.rows] == [
            (3000, False), (1500, False)]
        # Two campaigns' figures add up to more than the account's people: an estimate.
        network = kpi_report(s, portfolio="default", start=D(2025, 3, 1), end=D(2025, 3, 20),
                             group_by="network")
        assert network.rows[0].totals.reach == 4100  # the account's figure: one unit
        # A week no period query covered: summed daily reach, labelled an estimate.
        week = kpi_report(s, portfolio="default", start=D(2025, 3, 3), end=D(2025, 3, 9),
                          group_by="account")
        assert week.rows[0].totals.reach == 7 * 900 and week.rows[0].reach_estimated is True


def test_a_second_sync_replaces_the_month_to_date_figure(
    engine: Engine, graph, make_meta  # type: ignore[no-untyped-def]
) -> None:
    a, _ = _world(graph)
    settings = settings_from_dict(SETTINGS)
    sync_source(engine, settings, settings.sources[0], make_meta(), now=NOW)
    st = graph.state
    st.set_metric(a, D(2025, 3, 21), spend="10.00", impressions=1000, reach=600)
    st.set_period_reach("act_1", D(2025, 3, 1), D(2025, 3, 21), 4300)
    sync_source(engine, settings, settings.sources[0], make_meta(),
                now=NOW + dt.timedelta(days=1))
    with Session(engine) as s:
        accounts = {(r.start, r.end): r.reach for r in s.scalars(
            select(PeriodReach).where(PeriodReach.campaign_id.is_(None)))}  # type: ignore[union-attr]
    assert accounts[(D(2025, 3, 1), D(2025, 3, 21))] == 4300
    assert (D(2025, 3, 1), D(2025, 3, 20)) not in accounts  # superseded, not piled up


def test_the_periods_asked_for() -> None:
    assert reach_periods(D(2025, 3, 6), D(2025, 3, 20)) == [
        (D(2025, 3, 1), D(2025, 3, 20)), (D(2025, 2, 19), D(2025, 3, 20))]
    # early in a month the lookback restates the month before: its whole figure too
    assert reach_periods(D(2025, 2, 18), D(2025, 3, 3)) == [
        (D(2025, 3, 1), D(2025, 3, 3)), (D(2025, 2, 1), D(2025, 2, 28)),
        (D(2025, 2, 2), D(2025, 3, 3))]


def test_the_sandbox_counts_meta_people_once_and_the_demo_period_uses_it(engine: Engine) -> None:
    """With ``period_reach`` the sandbox's Meta accounts answer as Meta does; the other
    networks have no such query and stay an estimate."""
    from api.cli.kpis import default_period
    from connectors.sandbox import SandboxConnector

    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)  # every account's yesterday is the 19th
    settings = settings_from_dict({
        "sync": {"history_days": 40},
        "sources": [{"name": "sandbox", "kind": "sandbox", "period_reach": True}]})
    sandbox = SandboxConnector(now=now, campaigns_per_account=3, period_reach=True)
    sync_source(engine, settings, settings.sources[0], sandbox, now=now)
    start, end = default_period(today=now.date())
    with Session(engine) as s:
        rows = {r.key: r for r in kpi_report(s, portfolio="default", start=start, end=end,
                                              group_by="account").rows}
        summed = {r.key: r.totals.reach for r in kpi_report(
            s, portfolio="default", start=start + dt.timedelta(days=1), end=end,
            group_by="account").rows}
    for key, row in rows.items():
        if key.startswith("meta:"):
            assert row.reach_estimated is False, key
            # far fewer people than 30 days of daily reach added up (29 of them, even)
            assert row.totals.reach is not None and row.totals.reach < summed[key] / 2
        else:
            assert row.reach_estimated is True, key
