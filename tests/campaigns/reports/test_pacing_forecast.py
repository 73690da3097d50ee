"""The pacing report's forecast on any morning of a month, with the clock given: today's
budgets, a shift applied earlier (the past budgets walked back through it), an approved shift
applied tonight and a proposal waiting for a manager."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.models import BudgetShift, Campaign, OptimizationRun, ShiftItem
from campaigns.policy import PacingSettings
from campaigns.reports.pacing import ScopePacing, default_as_of, pacing_report
from tests.api.factories import add_metrics, create_account, create_campaign, get_portfolio

MARCH = dt.date(2026, 3, 1)
HISTORY = dt.date(2026, 1, 1)
RAISED_ON = dt.date(2026, 2, 20)  # campaign A's budget went from 80 to 100 that day
RATIO = Decimal("0.9")  # the platform spends 90% of each budget, every day


def _clock(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


def _shift(session: Session, campaign: Campaign, old: str, new: str, status: str,
           item_status: str, when: dt.datetime, applied: bool = False) -> None:
    portfolio = get_portfolio(session)
    shift = BudgetShift(portfolio_id=portfolio.id, currency="EUR",
                        total_before=Decimal(old), total_after=Decimal(new), created_by="nightly",
                        status=status, created_at=when, updated_at=when,
                        expires_at=when + dt.timedelta(hours=24))
    session.add(shift)
    session.flush()
    session.add(ShiftItem(shift_id=shift.id, campaign_id=campaign.id,
                          target_external_id=campaign.external_id, currency="EUR",
                          old_budget=Decimal(old), new_budget=Decimal(new), reason="test",
                          status=item_status, applied_at=when if applied else None,
                          applied_budget=Decimal(new) if applied else None))
    session.flush()


def _portfolio(session: Session, as_of: dt.date) -> None:
    """A at 100 (80 before 20 February), B at 50; each day spent 90% of its budget."""
    account = create_account(session, network="meta", name="Meta EU")
    a = create_campaign(session, account=account, daily_budget="100", name="A")
    b = create_campaign(session, account=account, daily_budget="50", name="B")
    days = (as_of - HISTORY).days + 1
    add_metrics(session, campaign=a, start=HISTORY, spends=[
        str(RATIO * (80 if HISTORY + dt.timedelta(days=i) < RAISED_ON else 100))
        for i in range(days)])
    add_metrics(session, campaign=b, start=HISTORY, spends=[str(RATIO * 50)] * days)
    _shift(session, a, "80", "100", "applied", "applied", _clock(RAISED_ON), applied=True)
    today = as_of + dt.timedelta(days=1)
    _shift(session, b, "50", "60", "approved", "approved", _clock(today))  # applied tonight
    _shift(session, a, "100", "120", "proposed", "pending", _clock(today))  # waits


def _report(engine: Engine, today: dt.date, pacing: PacingSettings
            ) -> tuple[dt.date, ScopePacing]:
    as_of = default_as_of(today)
    with Session(engine) as session:
        _portfolio(session, as_of)
        report = pacing_report(session, portfolio="default", settings=pacing, month=MARCH,
                               as_of=as_of)
        session.rollback()
    return as_of, report.scopes[0]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2, 32))
def test_the_forecast_on_any_morning_of_the_month(sqlite_engine: Engine, day: int) -> None:
    """Without the automation's trend the forecast is exactly: spend so far + 90% of today's
    budgets (150) today, then of B's approved 60 and A's proposed 120 every day left."""
    today = MARCH + dt.timedelta(days=day - 1)  # 32: the 1st of April, March has ended
    as_of, total = _report(sqlite_engine, today, PacingSettings(trend_days=0))
    r = total.result
    spent = RATIO * 150 * ((as_of - MARCH).days + 1)
    left = (dt.date(2026, 3, 31) - as_of).days
    expected = spent + (RATIO * 150 + RATIO * 180 * (left - 1) if left else 0)
    assert r.forecast_method == "budgets"
    assert r.delivery_ratio == pytest.approx(0.9)
    assert total.amounts.spend_to_date == spent
    assert total.amounts.forecast == expected
    assert r.forecast_low <= r.forecast <= r.forecast_high


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2, 31))
def test_the_default_forecast_follows_the_budgets_way_within_its_range(
        sqlite_engine: Engine, day: int) -> None:
    """With the defaults the forecast also expects the budgets to go on the way the
    automation has been taking them: never below the spend so far, inside its range."""
    today = MARCH + dt.timedelta(days=day - 1)
    _, total = _report(sqlite_engine, today, PacingSettings())
    a = total.amounts
    assert a.spend_to_date <= a.forecast_low <= a.forecast <= a.forecast_high
    assert total.result.forecast_method == "budgets"


def _runs(session: Session, campaign: Campaign, target: str, nights: list[dt.date],
          max_change: float = 0.1) -> None:
    """The optimiser ran on these nights, each wanting ``campaign`` at ``target``."""
    portfolio = get_portfolio(session)
    for night in nights:
        session.add(OptimizationRun(
            portfolio_id=portfolio.id, created_at=dt.datetime.combine(night, dt.time(2),
                                                                     tzinfo=dt.UTC),
            objective="conversions", currency="EUR", total_budget=Decimal(100),
            targets={"min_change": 0.01, "max_change": max_change, "budgets": [
                [campaign.account_id, "campaign", campaign.external_id, float(target)]]}))
    session.flush()


def _moving(engine: Engine, today: dt.date, every: int, weight: float) -> ScopePacing:
    """One campaign at 100 that spends 90% of it; the optimiser's runs want it at 150."""
    as_of = default_as_of(today)
    with Session(engine) as session:
        account = create_account(session, network="meta", name="Meta EU")
        a = create_campaign(session, account=account, daily_budget="100", name="A")
        add_metrics(session, campaign=a, start=HISTORY,
                    spends=[str(RATIO * 100)] * ((as_of - HISTORY).days + 1))
        _runs(session, a, "150", [today - dt.timedelta(days=k) for k in range(0, 21, every)])
        report = pacing_report(session, portfolio="default", month=MARCH, as_of=as_of,
                               settings=PacingSettings(heading_weight=weight))
        session.rollback()
    return report.scopes[0]


@pytest.mark.parametrize("every", [1, 7])
def test_the_forecast_follows_where_the_optimiser_is_taking_the_budgets(
        sqlite_engine: Engine, every: int) -> None:
    """On the morning of 11 March, runs (nightly, or weekly) want A at 150 and move it at
    most 10% a run: the days left follow that path (today's 100, then 110, 121, 133.1, 146.41,
    150 on the run days), not today's 100 held to the month's end."""
    today = dt.date(2026, 3, 11)
    full = _moving(sqlite_engine, today, every, 1.0).result
    spent = float(RATIO) * 100 * 10
    budget, path = 100.0, [100.0]
    for k in range(1, 21):  # 12 to 31 March
        if k % every == 0:
            budget = min(150.0, budget * 1.1)
        path.append(budget)
    assert full.forecast == pytest.approx(spent + float(RATIO) * sum(path))
    held = _moving(sqlite_engine, today, every, 0.0).result
    assert held.forecast == pytest.approx(spent + float(RATIO) * 100 * 21)
    # the default takes half the path's log step: between holding and the full path
    half = _moving(sqlite_engine, today, every, 0.5).result
    assert held.forecast < half.forecast < full.forecast
    assert half.forecast_low <= half.forecast <= half.forecast_high
