"""Proposals from stored data: stale history, --as-of, per-day max change, shifts measured in
the reporting currency. Explicit clocks throughout; runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.admin.auth import Principal, Role
from campaigns.config import Settings
from campaigns.errors import PermissionDeniedError
from campaigns.models import BudgetShift, Campaign, DailyMetric, OptimizationRun, ShiftItem
from campaigns.optimization.proposals import StaleHistoryError, propose
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from tests.api.factories import add_fx, create_account, create_campaign, get_portfolio

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
RATES = {"EUR": "1", "USD": "0.9", "JPY": "0.0062"}


def _portfolio(session: Session, *, last_day: dt.date, days: int = 80) -> list[Campaign]:
    """Three accounts (EUR, USD, JPY) with two campaigns each and `days` of history that
    ends on `last_day`; spend varies so that the curves are identified."""
    get_portfolio(session)
    rng = np.random.default_rng(3)
    campaigns = []
    for network, currency, budget in (("meta", "EUR", "100"), ("google", "USD", "120"),
                                      ("tiktok", "JPY", "15000")):
        account = create_account(session, network=network, currency=currency)
        for k in range(2):
            campaign = create_campaign(session, account=account, daily_budget=budget)
            scale = float(budget) * (1 + 0.5 * k)
            for i in range(days):
                day = last_day - dt.timedelta(days=i)
                spend = scale * rng.uniform(0.5, 1.5)
                conv = 3 * (1 + k) * spend / (spend + scale) * rng.uniform(0.8, 1.2)
                session.add(DailyMetric(
                    campaign_id=campaign.id, account_id=account.id, date=day,
                    spend=Decimal(f"{spend:.2f}"), conversions=Decimal(f"{conv:.4f}"),
                    revenue=Decimal(f"{conv * 40:.2f}"),
                ))
            campaigns.append(campaign)
    for day in (last_day, last_day + dt.timedelta(days=5), NOW.date(),
                NOW.date() + dt.timedelta(days=1)):
        for currency in ("USD", "JPY"):
            add_fx(session, day=day, currency=currency, quote="EUR", rate=RATES[currency])
    session.flush()
    return campaigns


def _settings(max_change: float = 0.2) -> Settings:
    return Settings.model_validate({"optimizer": {"max_change": max_change,
                                                  "exploration": "none"}})


def test_stale_history_says_what_to_do_and_as_of_plans_in_the_past(engine: Engine) -> None:
    spring = dt.date(2026, 4, 30)
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session, last_day=spring)
        with pytest.raises(StaleHistoryError) as caught:
            propose(session, _settings(), now=NOW)
        message = caught.value.message
        # Nowcasting fits the newest days too: the day after the newest history will do.
        assert "2026-04-30" in message and "--as-of 2026-05-01" in message
        assert caught.value.status_code == 422
        result = propose(session, _settings(), today=dt.date(2026, 5, 8), now=NOW)
        assert result.as_of == dt.date(2026, 5, 8)
        assert result.shift_id is None  # a what-if: nothing to approve or apply
        run = session.get(OptimizationRun, result.run_id)
        assert run is not None and run.targets is None  # nor a heading for pacing
        assert result.allocations and result.expected.conversions > 0
        assert session.scalars(select(BudgetShift)).first() is None


def _apply(session: Session, shift_id: int, now: dt.datetime) -> None:
    """What the write-back leaves behind: items applied at `now`, campaigns at the new budget."""
    manager = Principal("manager", Role.manager)
    view = shifts.get_shift(session, shift_id)
    shifts.approve(session, shift_id, version=view.shift.version, user=manager,
                   policy=ShiftPolicy(auto_approve_max_change=10), now=now)

    def applier(session: Session, shift: BudgetShift, items: list[ShiftItem], /, **_: Any) -> None:
        for item in items:
            campaign = session.get(Campaign, item.campaign_id)
            assert campaign is not None
            campaign.daily_budget = item.new_budget
            item.status, item.applied_budget, item.applied_at = "applied", item.new_budget, now

    view = shifts.get_shift(session, shift_id)
    shifts.apply(session, shift_id, version=view.shift.version, user=manager, applier=applier,
                 now=now)


def test_reruns_on_one_day_never_compound_the_max_change(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        campaigns = _portfolio(session, last_day=NOW.date() - dt.timedelta(days=1))
        start = {c.id: Decimal(c.daily_budget) for c in campaigns}
        currency = {"meta": "EUR", "google": "USD", "tiktok": "JPY"}
        total = sum(float(c.daily_budget) * float(RATES[currency[c.network]])
                    for c in campaigns)
        for run in range(4):  # propose -> apply four times within the morning
            now = NOW + dt.timedelta(minutes=20 * run)
            result = propose(session, _settings(0.05), total_budget=total * 1.5, now=now)
            assert result.shift_id is not None
            _apply(session, result.shift_id, now)
            session.commit()
        moved = 0
        for c in campaigns:
            session.refresh(c)
            step = Decimal("1") if c.network == "tiktok" else Decimal("0.01")
            assert c.daily_budget <= start[c.id] * Decimal("1.05") + step, c.network
            assert c.daily_budget >= start[c.id] * Decimal("0.95") - step, c.network
            moved += c.daily_budget != start[c.id]
        assert moved  # the runs did move budgets, each within one day's step
        day_end = {c.id: Decimal(c.daily_budget) for c in campaigns}
        tomorrow = NOW + dt.timedelta(days=1)
        result = propose(session, _settings(0.05), total_budget=total * 1.5, now=tomorrow)
        _apply(session, result.shift_id, tomorrow)
        session.commit()
        grew = [c for c in campaigns if session.get(Campaign, c.id).daily_budget
                > start[c.id] * Decimal("1.05") + 1]
        assert grew, "a new day allows a new step"
        for c in campaigns:
            assert session.get(Campaign, c.id).daily_budget <= day_end[c.id] * Decimal("1.05") + 1


def test_a_shift_is_measured_in_the_reporting_currency(engine: Engine) -> None:
    """12.8% of the budget moved in EUR next to untouched yen and dollars: 12.8%, not 3.5%."""
    with Session(engine, expire_on_commit=False) as session:
        get_portfolio(session)
        eur = create_campaign(session, account=create_account(session, currency="EUR"),
                              daily_budget="1000")
        usd = create_campaign(session, account=create_account(session, network="google",
                                                              currency="USD"),
                              daily_budget="1000")
        jpy = create_campaign(session, account=create_account(session, network="tiktok",
                                                              currency="JPY"),
                              daily_budget="100000")
        today = dt.datetime.now(dt.UTC).date()
        add_fx(session, day=today, currency="USD", quote="EUR", rate="0.9")
        add_fx(session, day=today, currency="JPY", quote="EUR", rate="0.0062")
        shift = BudgetShift(portfolio_id=get_portfolio(session).id, currency="EUR",
                            total_before=Decimal(0), total_after=Decimal(0), created_by="ann")
        session.add(shift)
        session.flush()
        # before: 1000 EUR + 900 EUR (USD) + 620 EUR (JPY) = 2520 EUR; EUR moves +322.56
        for campaign, currency, old, new in ((eur, "EUR", "1000", "1322.56"),
                                             (usd, "USD", "1000", "1000"),
                                             (jpy, "JPY", "100000", "100000")):
            session.add(ShiftItem(shift_id=shift.id, campaign_id=campaign.id,
                                  target_external_id=campaign.external_id, currency=currency,
                                  old_budget=Decimal(old), new_budget=Decimal(new)))
        session.flush()
        view = shifts.get_shift(session, shift.id)
        assert view.change_fraction == pytest.approx(322.56 / 2520)  # 12.8%
        with pytest.raises(PermissionDeniedError, match=r"12\.8%"):
            shifts.approve(session, shift.id, version=1, user=Principal("ann", Role.manager),
                           policy=ShiftPolicy(auto_approve_max_change=0.1))


def test_half_life_days_reaches_the_curve_fit(engine: Engine) -> None:
    """`[optimizer] half_life_days` weights recent days more: the same data gives other
    curves (and so other expected results) than with every day counting fully."""
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session, last_day=NOW.date() - dt.timedelta(days=1))
        plain = propose(session, _settings(), today=NOW.date(), now=NOW)
        weighted = propose(session, Settings.model_validate(
            {"optimizer": {"max_change": 0.2, "exploration": "none", "half_life_days": 5}}),
            today=NOW.date(), now=NOW)
    assert plain.baseline.conversions != weighted.baseline.conversions
    assert [a.curve.days for a in plain.allocations] == \
        [a.curve.days for a in weighted.allocations]


def test_a_run_keeps_where_it_would_put_each_budget_without_the_limit(engine: Engine) -> None:
    """The run's targets (what pacing's forecast follows): every budget, at least as far
    from today's as the proposal moved it, and in the same direction."""
    with Session(engine, expire_on_commit=False) as session:
        campaigns = _portfolio(session, last_day=NOW.date() - dt.timedelta(days=1))
        result = propose(session, _settings(0.05), now=NOW)
        run = session.get(OptimizationRun, result.run_id)
        assert run is not None and run.targets is not None
        assert run.targets["max_change"] == 0.05
        targets = {(a, t): amount for a, _, t, amount in run.targets["budgets"]}
        assert set(targets) == {(c.account_id, c.external_id) for c in campaigns}
        items = session.scalars(select(ShiftItem)).all()
        assert items  # the 5% limit binds somewhere
        for item in items:
            c = session.get(Campaign, item.campaign_id)
            assert c is not None
            old, new = float(item.old_budget), float(item.new_budget)
            target = targets[(c.account_id, c.external_id)]
            assert (target - old) * (new - old) > 0
            assert abs(target - old) >= abs(new - old) - 1  # within rounding


def test_a_run_keeps_each_phase_cpu_seconds_beside_its_wall_seconds(engine: Engine) -> None:
    """`OptimizationRun.timings`: the phases' wall seconds as before, and each one's CPU
    seconds under `cpu_` + its name, which add up to no more than the run's own."""
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session, last_day=NOW.date() - dt.timedelta(days=1))
        run = session.get(OptimizationRun, propose(session, _settings(), now=NOW).run_id)
        assert run is not None and run.timings is not None
        timings = run.timings
    phases = {"load_history_s", "load_limits_s", "nowcast_s", "fit_s", "allocate_s",
              "round_s", "record_s", "result_s"}
    wall = {k for k in timings if not k.startswith("cpu_")}
    assert wall == phases | {"load_s", "optimise_s", "total_s"}
    assert set(timings) == wall | {f"cpu_{k}" for k in wall}
    for prefix in ("", "cpu_"):
        assert all(timings[prefix + k] >= 0 for k in wall)
        assert sum(timings[prefix + k] for k in phases) <= timings[prefix + "total_s"] + 1e-9
        assert timings[prefix + "load_s"] == pytest.approx(
            timings[prefix + "load_history_s"] + timings[prefix + "load_limits_s"])
