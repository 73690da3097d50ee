"""The budgets forecast: approved and proposed budgets from the day they take effect, the
automation's trend, and a range that holds the forecast and never goes below what is spent."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optimizer.pacing import (
    BudgetOutlook,
    PacingThresholds,
    budget_trend,
    expected_budgets,
    heading_path,
    pace,
)

D = dt.date
MONTH = D(2024, 3, 1)
TREND = PacingThresholds(trend_days=28)


def days_from(start: D, values: list[float]) -> dict[D, float]:
    return {start + dt.timedelta(days=i): v for i, v in enumerate(values)}


budgets = st.floats(0, 1e5)


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 31), st.lists(st.floats(0, 1e5), min_size=0, max_size=90),
       st.lists(budgets, min_size=0, max_size=90), st.lists(budgets, min_size=0, max_size=31),
       st.lists(budgets, min_size=0, max_size=31), st.sampled_from([PacingThresholds(), TREND]))
def test_the_range_holds_the_forecast_and_never_goes_below_the_spend(
        day: int, spend: list[float], past: list[float], future: list[float],
        proposed: list[float], t: PacingThresholds) -> None:
    as_of = MONTH.replace(day=day)
    start = as_of - dt.timedelta(days=len(past) - 1)
    outlook = BudgetOutlook(past=days_from(start, past),
                            future=days_from(as_of + dt.timedelta(days=1), future),
                            proposed=days_from(as_of + dt.timedelta(days=1), proposed))
    r = pace(days_from(as_of - dt.timedelta(days=len(spend) - 1), spend), planned=1000,
             month=MONTH, as_of=as_of, budgets=outlook, thresholds=t)
    tol = 1e-6 * max(1.0, r.forecast)
    assert r.spend_to_date - tol <= r.forecast_low <= r.forecast + tol
    assert r.forecast - tol <= r.forecast_high
    assert all(x == x for x in (r.forecast, r.forecast_low, r.forecast_high))  # no NaN


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 30), st.floats(1, 1e4), st.floats(1, 1e4), st.floats(0.5, 1.5),
       st.data())
def test_an_approved_budget_counts_from_the_day_it_takes_effect(
        day: int, current: float, approved: float, ratio: float, data: st.DataObject) -> None:
    as_of = MONTH.replace(day=day)
    left = 31 - day
    effective = data.draw(st.integers(1, left)) if left > 1 else left  # 0: today
    past = days_from(as_of - dt.timedelta(days=59), [current] * 60)
    spend = {d: b * ratio for d, b in past.items()}
    future = [current] * effective + [approved] * (left - effective)
    r = pace(spend, planned=1000, month=MONTH, as_of=as_of,
             budgets=BudgetOutlook(past=past, future=days_from(as_of + dt.timedelta(days=1),
                                                                future)))
    assert r.delivery_ratio == pytest.approx(ratio)
    assert r.forecast == pytest.approx(ratio * (day * current + effective * current
                                                + (left - effective) * approved))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 29), st.floats(1, 1e4), st.floats(1, 1e4))
def test_a_waiting_proposal_counts_from_tomorrow(day: int, current: float,
                                                 proposal: float) -> None:
    """Today's budget is what the sync read; a proposal approved today is applied tonight."""
    as_of = MONTH.replace(day=day)
    left = 31 - day
    first = as_of + dt.timedelta(days=1)
    past = days_from(as_of - dt.timedelta(days=59), [current] * 60)
    outlook = BudgetOutlook(past=past, future=days_from(first, [current] * left),
                            proposed=days_from(first, [current] + [proposal] * (left - 1)))
    r = pace(past, planned=1000, month=MONTH, as_of=as_of, budgets=outlook)
    assert r.forecast == pytest.approx(day * current + current + (left - 1) * proposal)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1, 1e4), min_size=28, max_size=28), st.integers(2, 20),
       st.floats(1, 1e4))
def test_the_trend_leaves_known_budgets_as_they_are(past: list[float], effective: int,
                                                    approved: float) -> None:
    """Whatever the automation's way, the days up to the last approved move keep their
    budgets; only the days after it follow the trend."""
    assume(abs(approved - past[-1]) > 1e-6)  # an approved move, not today's budget again
    as_of = D(2024, 3, 3)
    first = as_of + dt.timedelta(days=1)
    left = [past[-1]] * effective + [approved] * (28 - effective)
    outlook = BudgetOutlook(past=days_from(as_of - dt.timedelta(days=27), past),
                            future=days_from(first, left))
    trend = budget_trend(outlook.past, left[0], as_of, TREND)
    out, var = expected_budgets(outlook, np.array(left), first, trend, TREND)
    assert out[:effective + 1] == pytest.approx(left[:effective + 1])
    assert (var[:effective + 1] == 0).all() and (var >= 0).all()


def test_a_rising_budget_is_expected_to_go_on_rising() -> None:
    as_of = D(2024, 3, 10)
    past = days_from(as_of - dt.timedelta(days=27), [100 * 1.01**i for i in range(28)])
    today = 100 * 1.01**28
    outlook = BudgetOutlook(past=past, future=days_from(as_of + dt.timedelta(days=1),
                                                        [today] * 21))
    flat = pace(past, planned=1000, month=MONTH, as_of=as_of, budgets=outlook)
    rising = pace(past, planned=1000, month=MONTH, as_of=as_of, budgets=outlook,
                  thresholds=TREND)
    assert rising.forecast > flat.forecast
    # the trend fades: never more than the days left at the full rate
    assert rising.forecast < flat.spend_to_date + sum(today * 1.01**k for k in range(21))


def test_the_optimisers_path_is_followed_with_a_range_that_widens_with_the_days_left() -> None:
    """Budgets at 100, the runs planning +10% a night up to 150 (``heading_path``): the
    forecast takes part of that step (``heading_weight``), its range reaches the full path,
    and it is wider with more days left."""
    def run(day: int, weight: float) -> tuple[float, float, float, float]:
        as_of = MONTH.replace(day=day)
        first = as_of + dt.timedelta(days=1)
        left = 31 - day
        past = days_from(as_of - dt.timedelta(days=59), [100.0] * 60)
        path = heading_path(np.array([100.0]), np.array([150.0]),
                            np.arange(left) > 0, max_change=0.1)[0]
        outlook = BudgetOutlook(past=past, future=days_from(first, [100.0] * left),
                                heading=days_from(first, path.tolist()))
        r = pace({d: 0.9 * b for d, b in past.items()}, planned=1000, month=MONTH,
                 as_of=as_of, budgets=outlook, thresholds=PacingThresholds(heading_weight=weight))
        return r.forecast, r.forecast_low, r.forecast_high, r.spend_to_date + 0.9 * path.sum()

    for day in (5, 15, 25):
        held, _, _, full = run(day, 0.0)
        value, low, high, _ = run(day, 0.5)
        assert held < value < full <= high and low < value
    widths = [run(day, 0.5)[2] - run(day, 0.5)[1] for day in (5, 15, 25)]
    assert widths[0] > widths[1] > widths[2]


def test_the_planned_path_moves_each_budget_within_the_limit_towards_its_target() -> None:
    path = heading_path(np.array([100.0, 100.0, 100.0]), np.array([150.0, 80.0, 100.5]),
                        np.array([False, True, False, True, True]), max_change=0.1,
                        min_change=0.01)
    assert path[0] == pytest.approx([100, 110, 110, 121, 133.1])
    assert path[1] == pytest.approx([100, 90, 90, 81, 80])
    assert path[2] == pytest.approx([100] * 5)  # a move under 1% is not made
