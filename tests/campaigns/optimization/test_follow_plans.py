"""``[optimizer] follow_plans``: network and account plans bound the run's move of money between
scopes, from pacing's month-to-date spend and delivery ratio; plans the other limits cannot
hold are followed as far as they can be, and the run says so. Explicit clock; SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.cli.optimize import render_table
from campaigns.config import Settings
from campaigns.ingest.metrics_store import refresh_account_days
from campaigns.models import Campaign, SpendCap
from campaigns.optimization.proposals import ProposalResult, propose
from campaigns.reports.pacing import pacing_report
from optimizer.pacing import PlanFollow, plan_band, plan_path
from tests.api.factories import add_fx, create_plan, get_portfolio
from tests.campaigns.optimization.test_proposals_service import NOW, RATES, _portfolio

TODAY = NOW.date()  # 2026-11-20: 11 days left with today
NOVEMBER = dt.date(2026, 11, 1)
DAYS_LEFT = 11


def _history(session: Session, last_day: dt.date) -> list[Campaign]:
    """The proposals' test portfolio, with the accounts' daily totals pacing reads."""
    campaigns = _portfolio(session, last_day=last_day)
    refresh_account_days(session, {c.account_id for c in campaigns},
                         last_day - dt.timedelta(days=90), last_day)
    taken = {last_day, last_day + dt.timedelta(days=5), NOW.date(),
             NOW.date() + dt.timedelta(days=1)}  # _portfolio's own rates
    for i in range(3, 91, 7):  # pacing converts the weeks it looks back on
        day = last_day - dt.timedelta(days=i)
        if day in taken:
            continue
        for currency in ("USD", "JPY"):
            add_fx(session, day=day, currency=currency, quote="EUR", rate=RATES[currency])
    session.flush()
    return campaigns


def _settings(follow: bool = True, band: float = 0.05) -> Settings:
    return Settings.model_validate({"optimizer": {
        "max_change": 0.2, "exploration": "none", "follow_plans": follow, "plan_band": band}})


def _by_network(result: ProposalResult) -> tuple[dict[str, float], dict[str, float]]:
    now: dict[str, float] = defaultdict(float)
    new: dict[str, float] = defaultdict(float)
    for a in result.allocations:
        fx = a.proposed_budget_reporting / a.proposed_budget
        now[a.network] += a.current_budget * fx
        new[a.network] += a.proposed_budget_reporting
    return now, new


def _plan_for(session: Session, network: str, daily: float) -> tuple[Decimal, float]:
    """A November plan for ``network`` that asks for ``daily`` of budget a day from today on,
    at the network's delivery ratio; returns the plan and the ratio pacing sees."""
    report = pacing_report(session, portfolio="default", settings=Settings().pacing,
                           as_of=TODAY - dt.timedelta(days=1))
    scope = next(s for s in report.scopes if s.scope == "network" and s.scope_key == network)
    ratio = scope.result.delivery_ratio
    assert ratio is not None
    planned = (scope.amounts.spend_to_date
               + Decimal(f"{daily * ratio * DAYS_LEFT:.2f}"))
    create_plan(session, month=NOVEMBER, planned=str(planned), scope="network",
                scope_key=network)
    return planned, ratio


def test_network_plans_bound_the_money_moved_between_networks(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _history(session, TODAY - dt.timedelta(days=1))
        free = propose(session, _settings(follow=False), now=NOW)
        assert "plans" not in free.to_json()  # off: the run knows no plan
        current, free_new = _by_network(free)
        # Finance wants meta down to 70% of today's budgets and google up to 140%: beyond one
        # run's reach, so each goes half a run's max change (10%) that way.
        _plan_for(session, "meta", 0.7 * current["meta"])
        _plan_for(session, "google", 1.4 * current["google"])
        # A plan the run is already on course to: its range is the plan's pace +- 5%.
        planned, ratio = _plan_for(session, "tiktok", current["tiktok"])
        session.flush()
        result = propose(session, _settings(), now=NOW)
    _, new = _by_network(result)
    plans = {p["scope_key"]: p for p in result.to_json()["plans"]}
    assert {p["followed"] for p in plans.values()} == {"yes"}
    cent = 0.01 * 2  # each of a network's two budgets rounded to its currency's unit
    assert new["meta"] <= 0.9 * current["meta"] + cent
    assert new["google"] >= 1.1 * current["google"] - cent
    assert free_new["google"] < 1.1 * current["google"]  # without the plan it would not
    tiktok = plans["tiktok"]
    assert tiktok["days_left"] == DAYS_LEFT and tiktok["delivery_ratio"] == ratio
    pace = float(planned - Decimal(str(tiktok["spend_to_date"]))) / DAYS_LEFT / ratio
    assert abs(tiktok["daily_low"] - 0.95 * pace) < 0.01
    assert abs(tiktok["daily_high"] - 1.05 * pace) < 0.01
    assert tiktok["daily_low"] - cent <= new["tiktok"] <= tiktok["daily_high"] + cent
    for network, p in plans.items():
        assert p["daily_low"] - cent <= new[network] <= p["daily_high"] + cent
    assert sum(new.values()) <= result.total_budget + 0.05
    # a budget a plan holds says so (not "capped by ... max")
    bound = {(a.network, a.binding_limit, a.reason) for a in result.allocations}
    assert ("meta", "plan_max", "held to the meta network's plan") in bound
    assert ("google", "plan_min", "raised to keep the google network on its plan") in bound
    table = render_table(result)  # `budgetpilot optimize` says it too
    assert f"plan network tiktok {float(planned):,.2f} EUR: " in table
    assert table.count("followed: yes") == 3


def test_plans_asking_more_than_the_total_share_it_and_a_locked_scope_is_held(
        engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _history(session, TODAY - dt.timedelta(days=1))
        current, _ = _by_network(propose(session, _settings(follow=False), now=NOW))
        for network, amount in current.items():  # every network wants 40% more
            _plan_for(session, network, 1.4 * amount)
        session.flush()
        result = propose(session, _settings(), now=NOW)
        # A manager's lock on google: its budgets stay, so its plan cannot be kept.
        session.add(SpendCap(portfolio_id=get_portfolio(session).id, scope="network",
                             scope_key="google", locked=True))
        session.flush()
        locked = propose(session, _settings(), now=NOW)
    _, new = _by_network(result)
    plans = result.to_json()["plans"]
    assert {p["followed"] for p in plans} == {"as far as the other limits allow"}
    # each keeps the same share of its minimum, so that the minimums fit the total
    shares = {round(p["held_low"] / p["daily_low"], 3) for p in plans}
    assert len(shares) == 1 and 0.85 < shares.pop() < 1
    assert sum(p["held_low"] for p in plans) <= result.total_budget + 0.01
    for p in plans:
        assert new[p["scope_key"]] >= p["held_low"] - 0.02
    assert sum(new.values()) <= result.total_budget + 0.05  # the total still holds
    by_key = {p["scope_key"]: p for p in locked.to_json()["plans"]}
    assert abs(by_key["google"]["held_low"] - current["google"]) < 0.01
    assert abs(by_key["google"]["held_high"] - current["google"]) < 0.01
    _, held = _by_network(locked)
    assert abs(held["google"] - current["google"]) < 0.02
    assert sum(held.values()) <= locked.total_budget + 0.05


def test_a_plan_is_read_for_the_month_of_the_run_and_on_its_first_day(engine: Engine) -> None:
    first = dt.date(2026, 12, 1)
    now = dt.datetime.combine(first, dt.time(2), tzinfo=dt.UTC)
    with Session(engine, expire_on_commit=False) as session:
        campaigns: list[Campaign] = _history(session, first - dt.timedelta(days=1))
        assert campaigns
        create_plan(session, month=NOVEMBER, planned="1", scope="network", scope_key="meta")
        create_plan(session, month=first, planned="6200", scope="network", scope_key="meta")
        session.flush()
        result = propose(session, _settings(), today=first, now=now)
    (plan,) = result.to_json()["plans"]
    assert plan["planned"] == 6200 and plan["spend_to_date"] == 0 and plan["days_left"] == 31


@settings(max_examples=200, deadline=None)
@given(planned=st.floats(1, 1e6), spent=st.floats(0, 1e6), days=st.integers(1, 31),
       ratio=st.floats(0.3, 2.0), current=st.floats(1, 1e5), band=st.floats(0, 0.5),
       max_change=st.floats(0.01, 1.0))
def test_a_plan_band_is_within_half_a_run_or_the_plan_pace(
        planned: float, spent: float, days: int, ratio: float, current: float, band: float,
        max_change: float) -> None:
    out = plan_band(planned, spent, days, ratio, current, band=band, max_change=max_change)
    assert out is not None
    low, high = out
    pace = max(planned - spent, 0) / days / ratio
    assert low <= high
    # one run can reach it without any budget moving more than half its limit
    assert low <= current * (1 + max_change / 2) * (1 + 1e-12)
    assert high >= current * (1 - max_change / 2) * (1 - 1e-12)
    if current * (1 - max_change / 2) <= pace * (1 - band) and \
            pace * (1 + band) <= current * (1 + max_change / 2):
        assert (low, high) == (pace * (1 - band), pace * (1 + band))
    assert plan_band(planned, spent, 0, ratio, current, band=band,
                     max_change=max_change) is None


def test_without_the_fx_rates_pacing_needs_the_run_goes_on_and_names_the_rate(
        engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        campaigns = _portfolio(session, last_day=TODAY - dt.timedelta(days=1))
        refresh_account_days(session, {c.account_id for c in campaigns},  # no rates for them
                             TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=1))
        create_plan(session, month=NOVEMBER, planned="9000", scope="network",
                    scope_key="google")
        session.flush()
        result = propose(session, _settings(), now=NOW)
    (plan,) = result.to_json()["plans"]
    assert plan["scope_key"] == "google" and plan["planned"] == 9000
    assert plan["followed"].startswith("no: no FX rate") and "fx-rates" in plan["followed"]
    assert result.shift_id is not None  # the proposal is made all the same


def test_pacing_forecasts_a_planned_network_on_the_course_the_runs_keep_to_its_plan(
        engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _history(session, TODAY - dt.timedelta(days=1))
        current, _ = _by_network(propose(session, _settings(follow=False), now=NOW))
        planned, _ = _plan_for(session, "meta", 0.7 * current["meta"])
        session.flush()

        def meta_forecast() -> float:
            report = pacing_report(session, portfolio="default", settings=Settings().pacing,
                                   as_of=TODAY - dt.timedelta(days=1))
            s = next(s for s in report.scopes if s.scope_key == "meta")
            assert s.result.forecast_method == "budgets"
            return float(s.amounts.forecast)

        propose(session, _settings(follow=False), now=NOW)  # runs that know no plan
        heading = meta_forecast()
        result = propose(session, _settings(), now=NOW)
        assert {p["followed"] for p in result.to_json()["plans"]} == {"yes"}
        following = meta_forecast()
    # Down to 70% at most 10% a run, then on the plan's pace: within 10% of the plan, and
    # nearer it than where the runs were heading when they did not follow it.
    assert abs(following / float(planned) - 1) < 0.10
    assert abs(following - float(planned)) < abs(heading - float(planned))


@settings(max_examples=200, deadline=None)
@given(start=st.floats(10, 1e4), want=st.floats(0.2, 5), days=st.integers(2, 31),
       ratio=st.floats(0.5, 1.5), band=st.floats(0, 0.2), step=st.floats(0.02, 0.5),
       known=st.integers(1, 3))
def test_the_plan_path_steps_towards_the_plan_within_its_limit_and_lands_on_it_if_it_can(
        start: float, want: float, days: int, ratio: float, band: float, step: float,
        known: int) -> None:
    follow = PlanFollow(planned=want * start * ratio * days, band=band, max_change=2 * step)
    known_days = np.full(min(known, days), start)
    path = plan_path(start, known_days, 0.0, ratio, days, follow)
    assert (path[:len(known_days)] == start).all()  # the known budgets as they are
    moves = path[1:] / path[:-1]
    assert (moves <= 1 + step + 1e-9).all() and (moves >= 1 - step - 1e-9).all()
    steps_needed = abs(np.log(want)) / np.log1p(step) + 1
    if days - len(known_days) > 3 * steps_needed:  # time enough to reach the pace and catch up
        assert abs(path.sum() * ratio / follow.planned - 1) < band + 0.15
