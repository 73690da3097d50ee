"""Pacing math against hand-computed figures."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.pacing import PacingThresholds, pace

D = dt.date


def flat(start: D, end: D, value: float) -> dict[D, float]:
    return {start + dt.timedelta(days=i): value for i in range((end - start).days + 1)}


def test_flat_spend_on_plan() -> None:
    daily = flat(D(2023, 12, 1), D(2024, 1, 10), 100.0)
    r = pace(daily, planned=3100, month=D(2024, 1, 1), as_of=D(2024, 1, 10))
    assert r.days_in_month == 31 and r.days_elapsed == 10
    assert r.spend_to_date == pytest.approx(1000)
    assert r.expected_to_date == pytest.approx(1000)
    assert r.run_rate == pytest.approx(100)
    assert r.forecast == pytest.approx(3100)
    assert r.status == "on_track" and r.pace_ratio == pytest.approx(1.0)


def test_one_day_of_google_2x_is_not_an_alarm() -> None:
    daily = flat(D(2023, 12, 28), D(2024, 1, 10), 100.0)  # 14 days: uniform weekdays
    daily[D(2024, 1, 10)] = 200.0  # Google spends 2x the daily budget on one day
    r = pace(daily, planned=3100, month=D(2024, 1, 1), as_of=D(2024, 1, 10))
    # run rate (13 x 100 + 200) / 14; forecast 1100 + 21 x that
    assert r.run_rate == pytest.approx(1500 / 14)
    assert r.forecast == pytest.approx(1100 + 21 * 1500 / 14)
    assert r.status == "on_track"


def test_meta_overdelivery_day_is_capped_in_run_rate() -> None:
    daily = flat(D(2024, 1, 1), D(2024, 1, 14), 100.0)
    daily[D(2024, 1, 14)] = 900.0  # far above the 2x cap: counts as 200
    r = pace(daily, planned=3100, month=D(2024, 1, 1), as_of=D(2024, 1, 14),
             first_day=D(2024, 1, 1))
    assert r.run_rate == pytest.approx((13 * 100 + 200) / 14)
    assert r.spend_to_date == pytest.approx(2200)


def test_sustained_overspend_is_over_and_underspend_is_under() -> None:
    over = pace(flat(D(2024, 1, 1), D(2024, 1, 15), 150.0), planned=3100,
                month=D(2024, 1, 1), as_of=D(2024, 1, 15), first_day=D(2024, 1, 1))
    assert over.status == "over" and over.forecast == pytest.approx(150 * 31)
    under = pace(flat(D(2024, 1, 1), D(2024, 1, 15), 50.0), planned=3100,
                 month=D(2024, 1, 1), as_of=D(2024, 1, 15), first_day=D(2024, 1, 1))
    assert under.status == "under"
    loose = pace(flat(D(2024, 1, 1), D(2024, 1, 15), 150.0), planned=3100,
                 month=D(2024, 1, 1), as_of=D(2024, 1, 15), first_day=D(2024, 1, 1),
                 thresholds=PacingThresholds(over=0.6))
    assert loose.status == "on_track"


def test_leap_february() -> None:
    daily = flat(D(2024, 2, 1), D(2024, 2, 29), 10.0)
    r = pace(daily, planned=290, month=D(2024, 2, 1), as_of=D(2024, 2, 29),
             first_day=D(2024, 2, 1))
    assert r.days_in_month == 29 and r.days_elapsed == 29
    assert r.spend_to_date == pytest.approx(290) and r.forecast == pytest.approx(290)
    assert r.expected_to_date == pytest.approx(290) and r.status == "on_track"


def test_weekday_weights_shape_expected_and_forecast() -> None:
    # Weekends spend 2x weekdays for 8 weeks; plan = that pattern over January 2024.
    daily = {}
    day = D(2023, 11, 6)
    while day <= D(2024, 1, 31):
        daily[day] = 200.0 if day.weekday() >= 5 else 100.0
        day += dt.timedelta(days=1)
    planned = sum(v for d, v in daily.items() if d.month == 1 and d.year == 2024)
    as_of = D(2024, 1, 14)  # a Sunday
    r = pace(daily, planned=planned, month=D(2024, 1, 1), as_of=as_of)
    spent = sum(v for d, v in daily.items() if D(2024, 1, 1) <= d <= as_of)
    assert r.spend_to_date == pytest.approx(spent)
    assert r.expected_to_date == pytest.approx(spent)
    assert r.forecast == pytest.approx(planned)
    assert r.weekday_weights[5] == pytest.approx(2 * r.weekday_weights[0])


def test_month_over_and_month_ahead() -> None:
    daily = flat(D(2024, 1, 1), D(2024, 2, 5), 100.0)
    done = pace(daily, planned=3100, month=D(2024, 1, 1), as_of=D(2024, 2, 5))
    assert done.days_elapsed == 31 and done.forecast == pytest.approx(3100)
    ahead = pace(daily, planned=2900, month=D(2024, 3, 1), as_of=D(2024, 2, 5))
    assert ahead.days_elapsed == 0 and ahead.spend_to_date == 0
    assert ahead.forecast == pytest.approx(3100) and ahead.status == "on_track"


def test_no_plan() -> None:
    r = pace({}, planned=None, month=D(2024, 1, 1), as_of=D(2024, 1, 5))
    assert r.status == "no_plan" and r.forecast == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=80), st.integers(0, 70))
def test_forecast_never_below_spend_to_date(values: list[float], offset: int) -> None:
    start = D(2024, 1, 1)
    daily = {start + dt.timedelta(days=i): v for i, v in enumerate(values)}
    r = pace(daily, planned=1000, month=D(2024, 2, 1), as_of=start + dt.timedelta(days=offset))
    assert r.forecast >= r.spend_to_date - 1e-6
    assert r.expected_to_date <= 1000 + 1e-6
