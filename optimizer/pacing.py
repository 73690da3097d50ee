"""Pacing math: month-to-date spend against a monthly plan. Pure: arrays in, a dataclass out,
``as_of`` passed in.

- **Expected to date**: the plan spread over the month by day-of-week weights.
- **Run rate**: the recent daily spend, each day divided by its weekday weight, with a day above
  ``spike_cap`` x the median counted as ``spike_cap`` x the median. Google may spend up to 2x a
  daily budget on a day and Meta overdelivers by up to 75% on a day; one such day moves the
  forecast little and never decides the status alone.
- **Forecast**: month-to-date spend + run rate x the weights of the days left.
- **Status**: forecast / plan above ``1 + over`` is ``over``, below ``1 - under`` is ``under``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MIN_WEIGHT_DAYS = 28  # four of each weekday before a pattern counts
WEIGHT_CLIP = (0.25, 4.0)


@dataclass(frozen=True)
class PacingThresholds:
    over: float = 0.1
    under: float = 0.1
    run_rate_days: int = 14
    weekday_weeks: int = 8
    spike_cap: float = 2.0


@dataclass(frozen=True)
class PacingResult:
    planned: float
    spend_to_date: float
    expected_to_date: float
    forecast: float
    run_rate: float
    pace_ratio: float | None
    forecast_ratio: float | None
    status: str  # on_track | under | over | no_plan
    days_elapsed: int
    days_in_month: int
    weekday_weights: tuple[float, ...]


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def history_start(month: dt.date, as_of: dt.date, t: PacingThresholds) -> dt.date:
    """The first day :func:`pace` looks at."""
    lookback = max(t.run_rate_days, 7 * t.weekday_weeks)
    return min(month.replace(day=1), as_of - dt.timedelta(days=lookback - 1))


def _daily_array(daily: Mapping[dt.date, float], start: dt.date, end: dt.date) -> np.ndarray:
    n = (end - start).days + 1
    out = np.zeros(max(n, 0))
    for day, value in daily.items():
        i = (day - start).days
        if 0 <= i < n:
            out[i] += float(value)
    return out


def weekday_weights(values: np.ndarray, start: dt.date) -> np.ndarray:
    """Mean spend per weekday / overall mean (Monday first); uniform without enough data."""
    if len(values) < MIN_WEIGHT_DAYS or values.sum() <= 0:
        return np.ones(7)
    weekdays = (np.arange(len(values)) + start.weekday()) % 7
    sums = np.bincount(weekdays, weights=values, minlength=7)
    counts = np.bincount(weekdays, minlength=7)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    overall = np.nanmean(means)
    if not np.isfinite(overall) or overall <= 0:
        return np.ones(7)
    w = np.nan_to_num(means / overall, nan=1.0)
    w = np.clip(w, *WEIGHT_CLIP)
    return w / w.mean()


def _weight_sum(weights: np.ndarray, start: dt.date, end: dt.date) -> float:
    if end < start:
        return 0.0
    days = (np.arange((end - start).days + 1) + start.weekday()) % 7
    return float(weights[days].sum())


def run_rate(values: np.ndarray, start: dt.date, weights: np.ndarray, spike_cap: float) -> float:
    """Spend per average-weight day, robust to single days of overdelivery."""
    if len(values) == 0:
        return 0.0
    weekdays = (np.arange(len(values)) + start.weekday()) % 7
    deseasoned = values / weights[weekdays]
    median = float(np.median(deseasoned))
    if median > 0:
        deseasoned = np.minimum(deseasoned, spike_cap * median)
    return float(deseasoned.mean())


def pace(
    daily: Mapping[dt.date, float], *, planned: float | None, month: dt.date, as_of: dt.date,
    thresholds: PacingThresholds = PacingThresholds(),
    first_day: dt.date | None = None,
) -> PacingResult:
    """Pacing of one scope. ``daily`` maps a day to its spend (missing days spent nothing);
    ``first_day`` is when the scope started spending (default: its first day in ``daily``);
    days before it are not history, so a new campaign's run rate is not diluted by zeros."""
    t = thresholds
    if first_day is None and daily:
        first_day = min(daily)
    m_start, m_end = month_bounds(month)
    days_in_month = (m_end - m_start).days + 1
    h_start = max(history_start(month, as_of, t), first_day or dt.date.min)
    last = min(as_of, m_end)
    hist = _daily_array(daily, h_start, as_of)
    w_start = max(h_start, as_of - dt.timedelta(days=7 * t.weekday_weeks - 1))
    weights = weekday_weights(hist[(w_start - h_start).days:], w_start)

    elapsed_end = min(as_of, m_end)
    days_elapsed = max(0, (elapsed_end - m_start).days + 1)
    month_vals = _daily_array(daily, m_start, last) if days_elapsed else np.zeros(0)
    spend_to_date = float(month_vals.sum())

    rr_start = max(h_start, as_of - dt.timedelta(days=t.run_rate_days - 1))
    rate = run_rate(hist[(rr_start - h_start).days:], rr_start, weights, t.spike_cap)

    total_w = _weight_sum(weights, m_start, m_end)
    elapsed_w = _weight_sum(weights, m_start, elapsed_end)
    left_w = _weight_sum(weights, max(m_start, as_of + dt.timedelta(days=1)), m_end)
    plan = float(planned) if planned is not None else 0.0
    expected = plan * elapsed_w / total_w if total_w else 0.0
    forecast = spend_to_date + rate * left_w

    pace_ratio = spend_to_date / expected if expected > 0 else None
    forecast_ratio = forecast / plan if plan > 0 else None
    if forecast_ratio is None:
        status = "no_plan"
    elif forecast_ratio > 1 + t.over:
        status = "over"
    elif forecast_ratio < 1 - t.under:
        status = "under"
    else:
        status = "on_track"
    return PacingResult(
        planned=plan, spend_to_date=spend_to_date, expected_to_date=expected,
        forecast=forecast, run_rate=rate, pace_ratio=pace_ratio, forecast_ratio=forecast_ratio,
        status=status, days_elapsed=days_elapsed, days_in_month=days_in_month,
        weekday_weights=tuple(float(x) for x in weights),
    )
