"""The sandbox platform and the sync engine, closing the loop on a real database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings, SourceSettings, settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import AdAccount, AdSet, Campaign, DailyMetric, SyncRun
from connectors.base import BudgetTarget, Connector
from connectors.sandbox import SandboxConnector

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
SOURCE = SourceSettings(name="sandbox", kind="sandbox")


def settings(**sync: int) -> Settings:
    return settings_from_dict({"sync": {"lookback_days": 28, "history_days": 90, **sync}})


def test_sandbox_speaks_the_protocol_and_is_deterministic() -> None:
    a = SandboxConnector(seed=3, now=NOW)
    b = SandboxConnector(seed=3, now=NOW)
    assert isinstance(a, Connector)
    accounts = a.list_accounts()
    assert {x.network for x in accounts} == {"meta", "google", "tiktok"}
    assert len({x.currency for x in accounts}) >= 3 and len({x.timezone for x in accounts}) >= 3
    start, end = dt.date(2026, 5, 1), dt.date(2026, 5, 31)
    assert list(a.daily_metrics("act_1001", start, end)) == list(
        b.daily_metrics("act_1001", start, end))
    other = list(SandboxConnector(seed=4, now=NOW).daily_metrics("act_1001", start, end))
    assert other != list(a.daily_metrics("act_1001", start, end))
    levels = {c.budget_level for x in accounts for c in a.list_campaigns(x.external_id)}
    assert levels == {"campaign", "adset", "shared"}


def test_sandbox_has_diminishing_returns_and_conversion_lag() -> None:
    sb = SandboxConnector(now=NOW)
    c = sb.campaigns[0]
    low, high = c.expected_conversions(50), c.expected_conversions(100)
    assert high > low and high < 2 * low  # more spend, less per unit of spend
    day = dt.date(2026, 6, 13)
    early = sb.day_metrics(c, day, observed=dt.date(2026, 6, 14)).conversions
    late = sb.day_metrics(c, day, observed=dt.date(2026, 7, 14)).conversions
    assert late >= early and late > 0
    assert sb.day_metrics(c, day, dt.date(2026, 6, 14)).spend == sb.day_metrics(
        c, day, dt.date(2026, 7, 14)).spend


def test_budget_write_back_changes_what_the_platform_delivers(tmp_path) -> None:
    state = tmp_path / "sandbox.json"
    sb = SandboxConnector(now=NOW, state_path=state)
    c = next(x for x in sb.campaigns if x.level == "campaign" and x.account.currency == "EUR")
    target = BudgetTarget(c.account.external_id, "campaign", c.budget_key, "EUR")
    before = sb.read_budget(target)
    result = sb.apply_budget(target, Decimal("123.456"))
    assert result.changed and result.daily_budget == Decimal("123.46")
    # A second write of the same value changes nothing; a new process sees the new budget.
    assert not sb.apply_budget(target, Decimal("123.46")).changed
    again = SandboxConnector(now=NOW + dt.timedelta(days=3), state_path=state)
    assert again.read_budget(target) == Decimal("123.46") != before
    today = again.local_today(c.account)
    spend = again.day_metrics(c, today - dt.timedelta(days=1), today).spend
    assert Decimal("60") < spend < Decimal("250")


def test_first_sync_reads_history_then_only_the_lookback(engine: Engine) -> None:
    sb = SandboxConnector(now=NOW)
    report = sync_source(engine, settings(), SOURCE, sb, now=NOW)
    assert report.ok, report.failed
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AdAccount)) == 5
        n = s.scalar(select(func.count()).select_from(DailyMetric))
        active = s.scalar(select(func.count()).select_from(Campaign).where(
            Campaign.status == "active"))
        assert n == active * 90
        assert s.scalar(select(func.count()).select_from(AdSet)) >= 1
        windows = s.execute(select(SyncRun.window_start, SyncRun.window_end).where(
            SyncRun.stream == "metrics")).all()
        assert all((end - start).days == 89 for start, end in windows)
    later = NOW + dt.timedelta(days=5)
    sb.set_now(later)
    report = sync_source(engine, settings(), SOURCE, sb, now=later)
    metrics = [o for o in report.outcomes if o.stream == "metrics"]
    assert all(o.window and (o.window[1] - o.window[0]).days == 28 + 5 - 1 for o in metrics)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DailyMetric)) == n + active * 5


def test_resync_is_idempotent_and_restated_conversions_overwrite(engine: Engine) -> None:
    sb = SandboxConnector(now=NOW)
    sync_source(engine, settings(), SOURCE, sb, now=NOW)
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(DailyMetric))
        conv_before = s.scalar(select(func.sum(DailyMetric.conversions)))
        spend_before = s.scalar(select(func.sum(DailyMetric.spend)).where(
            DailyMetric.date <= dt.date(2026, 6, 13)))
    sync_source(engine, settings(), SOURCE, sb, now=NOW)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DailyMetric)) == n
        assert s.scalar(select(func.sum(DailyMetric.conversions))) == conv_before
    # Ten days later the last days' conversions have come in: same days, higher counts.
    later = NOW + dt.timedelta(days=10)
    sb.set_now(later)
    sync_source(engine, settings(), SOURCE, sb, now=later)
    with Session(engine) as s:
        old_days = select(func.sum(DailyMetric.conversions)).where(
            DailyMetric.date <= dt.date(2026, 6, 13))
        assert s.scalar(old_days) > conv_before
        # Spend does not restate; only conversions do.
        assert s.scalar(select(func.sum(DailyMetric.spend)).where(
            DailyMetric.date <= dt.date(2026, 6, 13))) == spend_before


def test_one_failing_account_never_stops_the_others(engine: Engine) -> None:
    sb = SandboxConnector(now=NOW, fail_accounts=("1234567890",))
    report = sync_source(engine, settings(), SOURCE, sb, now=NOW)
    assert [o.account for o in report.failed] == ["google:1234567890"]
    assert "revoked" in (report.failed[0].error or "")
    with Session(engine) as s:
        failed = s.scalars(select(SyncRun).where(SyncRun.status == "failed")).all()
        assert len(failed) == 1 and "[auth]" in (failed[0].error or "")
        assert failed[0].account_id is not None  # the failure is shown against its account
        synced = s.scalars(select(AdAccount.external_id).join(
            DailyMetric, DailyMetric.account_id == AdAccount.id).distinct()).all()
        assert len(synced) == 4 and "1234567890" not in synced


def test_settled_days_report_every_conversion() -> None:
    sb = SandboxConnector(now=NOW)
    c = sb.campaigns[0]
    day = dt.date(2026, 5, 1)
    settled = [sb.day_metrics(c, day, day + dt.timedelta(days=age)).conversions
               for age in (21, 40, 90)]
    assert settled[0] == settled[1] == settled[2]
    counts = [sb.day_metrics(c, day, day + dt.timedelta(days=age)).conversions
              for age in range(1, 25)]
    assert counts == sorted(counts)  # restatements only ever add conversions


def test_sync_loads_the_sandbox_exchange_rates_for_the_reporting_currency(
    engine: Engine,
) -> None:
    from campaigns.models import FxRate

    report = sync_source(engine, settings(), SOURCE, SandboxConnector(now=NOW), now=NOW)
    assert report.ok
    with Session(engine) as s:
        rows = s.scalars(select(FxRate).where(FxRate.date == dt.date(2026, 6, 1))).all()
        assert {(r.currency, r.quote) for r in rows} == {
            ("GBP", "EUR"), ("JPY", "EUR"), ("USD", "EUR")}
        jpy = next(r for r in rows if r.currency == "JPY")
        assert Decimal("0.005") < jpy.rate < Decimal("0.008")
        n = s.scalar(select(func.count()).select_from(FxRate))
    sync_source(engine, settings(), SOURCE, SandboxConnector(now=NOW), now=NOW)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(FxRate)) == n


def _day_totals_match(engine: Engine) -> None:
    from campaigns.models import AccountDay

    with Session(engine) as s:
        expected = {
            (a, d): (Decimal(sp), Decimal(cv))
            for a, d, sp, cv in s.execute(
                select(DailyMetric.account_id, DailyMetric.date, func.sum(DailyMetric.spend),
                       func.sum(DailyMetric.conversions))
                .group_by(DailyMetric.account_id, DailyMetric.date)
            ).all()
        }
        kept = {
            (r.account_id, r.date): (Decimal(r.spend), Decimal(r.conversions))
            for r in s.scalars(select(AccountDay))
        }
    assert expected and kept.keys() == expected.keys()
    for key, (spend, conv) in expected.items():
        assert abs(kept[key][0] - spend) < Decimal("0.0001") and kept[key][1] == conv


def test_account_day_totals_follow_every_write(engine: Engine, tmp_path) -> None:
    """Finance and pacing read the per-account daily totals: they must match the campaigns'."""
    from campaigns.ingest.csv_import.importer import import_csv

    sb = SandboxConnector(now=NOW)
    sync_source(engine, settings(), SOURCE, sb, now=NOW)
    _day_totals_match(engine)
    later = NOW + dt.timedelta(days=6)  # restated conversions overwrite campaign rows
    sb.set_now(later)
    sync_source(engine, settings(), SOURCE, sb, now=later)
    _day_totals_match(engine)
    csv = tmp_path / "extra.csv"
    csv.write_text(
        "date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,"
        "conversions,revenue\n"
        "2026-06-01,meta,act_1001,x1,Extra,EUR,10.25,1,1,1,5\n"
        "2026-06-01,bing,b1,k1,Search,EUR,3.5,1,1,0,0\n"
    )
    import_csv(engine, csv, settings=settings(), today=NOW.date())
    _day_totals_match(engine)
