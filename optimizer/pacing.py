"""Pacing math: month-to-date spend against a monthly plan. Pure: arrays in, a dataclass out,
``as_of`` passed in.

- **Expected to date**: the plan spread over the month by day-of-week weights.
- **Run rate**: the recent daily spend, each day divided by its weekday weight, with a day above
  ``spike_cap`` x the median counted as ``spike_cap`` x the median. Google may spend up to 2x a
  daily budget on a day and Meta overdelivers by up to 75% on a day; one such day moves the
  forecast little and never decides the status alone.
- **Forecast** (``budgets``, when the scope's daily budgets are known): month-to-date spend +
  the sum over the days left of that day's budget (the current one, an approved shift's new
  one from the day it takes effect, a proposal waiting for approval's from tomorrow, then
  ``heading_weight`` of the optimiser's planned path (``BudgetOutlook.heading``), or with
  ``trend_days`` the scope's recent trend, after the last known one) x the scope's **delivery
  ratio** (spend / budget over the
  last ``ratio_days``, each day's ratio capped at ``ratio_cap`` x the median day's, shrunk
  towards the network's ratio with the weight of ``prior_days`` days). The range is the 80%
  interval of the remaining spend from the day-to-day variance of the ratio, the ratio's own
  uncertainty, budgets moving as they moved over the last ``weekday_weeks`` and the planned
  path's step itself (``HEADING_SD`` of it): it widens with the days left.
- **Forecast** (``run_rate``, no budgets: e.g. CSV-imported campaigns): month-to-date spend +
  run rate x the weights of the days left; the range from the day-to-day variance of the
  deseasoned spend.
- **Status**: forecast / plan above ``1 + over`` is ``over``, below ``1 - under`` is ``under``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

MIN_WEIGHT_DAYS = 28  # four of each weekday before a pattern counts
WEIGHT_CLIP = (0.25, 4.0)
MIN_DRIFT_DAYS = 14  # budget moves are read from at least this many days
Z80 = 1.2816  # the 10th and 90th percentiles of a normal: an 80% range
# The sd of the optimiser's planned step as a share of it: on the tuning seeds the range
# then holds about 80% of the weekly worlds' actuals on days 5 to 25.
HEADING_SD = 0.5


@dataclass(frozen=True)
class PacingThresholds:
    over: float = 0.05
    under: float = 0.05
    run_rate_days: int = 14
    weekday_weeks: int = 8
    spike_cap: float = 2.0
    ratio_days: int = 14
    ratio_cap: float = 1.25
    prior_days: float = 3.0
    trend_days: int = 0
    heading_weight: float = 0.5
    trend_half_life: float = 14.0
    revert_half_life: float = 3.0
    stray_days: float = 7.0


@dataclass(frozen=True)
class PlanFollow:
    """The automation keeps the scope on course to its plan (``[optimizer] follow_plans``):
    each run (every ``every`` days, moving a budget at most ``max_change``) puts the scope's
    budgets within ``band`` of the plan's pace as far as :func:`plan_band` lets it."""

    planned: float
    band: float
    max_change: float
    every: int = 1


@dataclass(frozen=True)
class BudgetOutlook:
    """A scope's daily budgets (the sum over its budgets, in the report's currency).

    ``past`` holds the budget in force on recent days, ``future`` on each day left in the
    month (today's budget, then an approved shift's from the day it takes effect); a day
    missing from ``future`` has no budget (paused). ``prior_ratio`` is the network's delivery
    ratio, which a scope with few days of its own leans on."""

    past: Mapping[dt.date, float] = field(default_factory=dict)
    future: Mapping[dt.date, float] = field(default_factory=dict)
    prior_ratio: float | None = None
    proposed: Mapping[dt.date, float] = field(default_factory=dict)
    # Where the optimiser is taking the budgets: each day left's budget if its scheduled runs
    # go on moving each towards its last run's target within the max-change limit
    # (:func:`heading_path`, summed over the scope's budgets); empty: not known.
    heading: Mapping[dt.date, float] = field(default_factory=dict)
    follow: PlanFollow | None = None  # the runs follow the scope's plan


def heading_path(start: np.ndarray, target: np.ndarray, runs: np.ndarray, *,
                 max_change: float, min_change: float = 0.0) -> np.ndarray:
    """Budgets (rows) on each day (columns) from ``start``, if on each day with a run
    (``runs``) every budget moves towards its target by at most ``max_change`` of itself,
    a move under ``min_change`` not made: the path the optimiser plans under its limit."""
    b = np.asarray(start, dtype=float).copy()
    goal = np.asarray(target, dtype=float)
    out = np.empty((len(b), len(runs)))
    for i, run in enumerate(runs):
        if run:
            step = np.clip(goal, b * (1 - max_change), b * (1 + max_change))
            b = np.where(np.abs(step - b) >= min_change * b, step, b)
        out[:, i] = b
    return out


def plan_path(start: float, known: np.ndarray, spent: float, ratio: float, days_left: int,
              follow: PlanFollow) -> np.ndarray:
    """The scope's budget on each day left when the runs follow its plan: the ``known``
    budgets (tonight's apply, an approved move) as they are, then on each run day the budget
    the run's range (:func:`plan_band`, from the spend expected so far) leaves nearest to
    where it was; a plan that gives no range (nothing planned) leaves it there."""
    out = np.empty(days_left)
    b, spent_so_far = start, spent
    r = ratio if ratio > 0 else 1.0
    for i in range(days_left):
        if i < len(known):
            b = float(known[i])
        elif i % max(follow.every, 1) == 0:
            band = plan_band(follow.planned, spent_so_far, days_left - i, r, b,
                             band=follow.band, max_change=follow.max_change)
            if band is not None:
                b = min(max(b, band[0]), band[1])
        out[i] = b
        spent_so_far += b * r
    return out


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
    forecast_low: float = 0.0
    forecast_high: float = 0.0
    forecast_method: str = "run_rate"  # budgets | run_rate
    delivery_ratio: float | None = None
    run_rate_forecast: float = 0.0  # month-to-date + run rate x days left, whatever the method


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


@dataclass(frozen=True)
class Forecast:
    value: float
    low: float
    high: float
    method: str
    delivery_ratio: float | None = None


def delivery_ratio(
    spend: np.ndarray, budget: np.ndarray, *, prior: float | None, prior_days: float,
    cap: float,
) -> tuple[float, float, int] | None:
    """(ratio, variance of a day's ratio, days) over the days that had a budget; ``None``
    without such a day or a prior. A day's ratio above ``cap`` x the median day's counts as
    that much: one day of a platform overdelivering hard is not the scope's pace."""
    has = budget > 1e-6  # below a millionth of a unit, no budget (its ratio overflows)
    s, b = spend[has], budget[has]
    if len(b) == 0:  # a scope new to its budgets paces as its network does
        return None if prior is None else (prior, (0.25 * prior) ** 2, 0)
    daily = s / b
    median = float(np.median(daily))
    if median > 0:
        daily = np.minimum(daily, cap * median)
    # Budget-weighted: a day with a larger budget says more about the pace of that money.
    spent, weight = float((daily * b).sum()), float(b.sum())
    var = float(daily.var(ddof=1)) if len(b) > 1 else float(0.25 * daily[0]) ** 2
    if prior is not None and prior_days > 0:
        mean_b = weight / len(b)
        spent += prior_days * prior * mean_b
        weight += prior_days * mean_b
    return spent / weight, var, len(b)


def budget_drift(past: Mapping[dt.date, float], as_of: dt.date, t: PacingThresholds) -> float:
    """Mean squared day-to-day log change of the scope's budget over the weekday window,
    from its first move in it on."""
    b = _daily_array(past, as_of - dt.timedelta(days=7 * t.weekday_weeks - 1), as_of)
    # A budget below a millionth of a unit is no budget: between such a day and a real one
    # the ratio overflows to infinity and the range becomes NaN.
    both = (b[1:] > 1e-6) & (b[:-1] > 1e-6)
    if not both.any():
        return 0.0
    steps = np.log(b[1:][both] / b[:-1][both]) ** 2
    # Before its first move a budget was not being moved yet (or its moves are not known: a
    # portfolio new to budgetpilot): those days say nothing of how it moves now.
    moved = np.nonzero(steps > 0)[0]
    if len(moved):
        steps = steps[min(int(moved[0]), max(0, len(steps) - MIN_DRIFT_DAYS)):]
    return float(np.mean(steps))


@dataclass(frozen=True)
class BudgetTrend:
    """A straight line through the log of a scope's recent budgets, today at x = 0."""

    level: float  # the line's log budget today
    slope: float  # per day
    residual_var: float  # of a day's log budget around the line
    slope_var: float
    days: int

    @classmethod
    def flat(cls, today: float) -> BudgetTrend:
        return cls(float(np.log(today)) if today > 0 else 0.0, 0.0, 0.0, 0.0, 0)


def budget_trend(past: Mapping[dt.date, float], today: float, as_of: dt.date,
                 t: PacingThresholds) -> BudgetTrend:
    """The line (least squares) through the log budgets of the last ``trend_days`` up to
    today's: where the automation has been taking the scope run after run, and how far its
    budget strays from that way. Flat with a day without budget in the window (a pause is
    not a trend) or a window under three days."""
    n = t.trend_days
    if n < 3 or today <= 1e-6:
        return BudgetTrend.flat(today)
    b = np.append(_daily_array(past, as_of - dt.timedelta(days=n - 2), as_of), today)
    if (b <= 1e-6).any():
        return BudgetTrend.flat(today)
    y = np.log(b)
    x = np.arange(len(b)) - (len(b) - 1.0)
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    level = float(y.mean() - slope * x.mean())
    resid = y - (level + slope * x)
    var = float(resid @ resid / (len(b) - 2))
    return BudgetTrend(level, slope, var, var / float(xc @ xc), len(b))


def _known_days(outlook: BudgetOutlook, left: np.ndarray, first_left: dt.date) -> int:
    """How many of the days left have a known budget: tomorrow's (the sync read it, tonight's
    apply writes it), up to an approved move's day or a waiting proposal's first change."""
    days = len(left)
    known = 1
    for d, v in outlook.future.items():
        i = (d - first_left).days
        if 0 < i < days and abs(v - outlook.future.get(d - dt.timedelta(days=1), v)) > 1e-9:
            known = max(known, i + 1)
    if outlook.proposed:
        proposed = _daily_array(outlook.proposed, first_left,
                                first_left + dt.timedelta(days=days - 1))
        changed = np.nonzero(np.abs(proposed - left) > 1e-9)[0]
        if len(changed):
            known = max(known, int(changed[0]) + 1)
    return min(known, max(days, 1))


def expected_budgets(outlook: BudgetOutlook, left: np.ndarray, first_left: dt.date,
                     trend: BudgetTrend, t: PacingThresholds) -> tuple[np.ndarray, np.ndarray]:
    """Each day left's expected budget and its variance: the approved ones as they are, then
    a waiting proposal's from its day on (the nightly's next move, computed already), then
    back towards the scope's line and along it, its slope fading with ``trend_half_life`` as
    the budgets near where the curves want them."""
    days = len(left)
    known = _known_days(outlook, left, first_left)
    base = left.copy()
    if outlook.proposed:  # a waiting proposal is the automation's next step
        proposed = _daily_array(outlook.proposed, first_left,
                                first_left + dt.timedelta(days=days - 1))
        if (np.abs(proposed - left) > 1e-9).any():
            base = proposed
    var = np.zeros(days)
    if outlook.heading and days > known and t.heading_weight > 0:
        # The optimiser's planned path from the last known budget on, its log step taken
        # by ``heading_weight`` (the targets move as each run refits the curves).
        path = _daily_array(outlook.heading, first_left,
                            first_left + dt.timedelta(days=days - 1))
        ok = (path > 1e-6) & (base > 1e-6) & (np.arange(days) >= known)
        anchor = path[known - 1] if path[known - 1] > 1e-6 else 0.0
        if anchor > 0:
            w = t.heading_weight
            step = np.where(ok, path / anchor, 1.0)
            return np.where(ok, base[known - 1] * step**w, base), var
    if trend.days == 0 or days <= known or base[known - 1] <= 1e-6:
        return base, var
    x = np.arange(days, dtype=float)  # today's budget at x = 0
    fade = 0.5 ** (1 / t.trend_half_life) if t.trend_half_life > 0 else 0.0
    steps = fade * (1 - fade**x) / (1 - fade) if 0 < fade < 1 else x * (fade == 1)
    line = trend.level + trend.slope * steps
    back = 0.5 ** (1 / t.revert_half_life) if t.revert_half_life > 0 else 1.0
    after = np.arange(days) >= known
    gap = np.log(base[known - 1]) - line[known - 1]
    ahead = x - (known - 1)
    log_b = line + gap * back**ahead
    out = np.where(after & (base > 1e-6), np.exp(log_b), base)
    # Straying from the line again, and the slope's own uncertainty.
    var = np.where(after, trend.residual_var * (1 - back ** (2 * ahead))
                   + trend.slope_var * steps**2, 0.0)
    return out, var


def budget_forecast(
    daily: Mapping[dt.date, float], spend_to_date: float, outlook: BudgetOutlook, *,
    as_of: dt.date, month_start: dt.date, month_end: dt.date, t: PacingThresholds,
    first_day: dt.date | None,
) -> Forecast | None:
    """Month-to-date + each day left's budget x the delivery ratio, with an 80% range;
    ``None`` when the budgets say nothing of the scope's pace (no budgeted day, no prior)."""
    r_start = max(as_of - dt.timedelta(days=t.ratio_days - 1), first_day or dt.date.min)
    spend = _daily_array(daily, r_start, as_of)
    budget = _daily_array(outlook.past, r_start, as_of)
    est = delivery_ratio(spend, budget, prior=outlook.prior_ratio, prior_days=t.prior_days,
                         cap=t.ratio_cap)
    if est is None:
        return None
    ratio, var, n = est
    first_left = max(month_start, as_of + dt.timedelta(days=1))
    left = _daily_array(outlook.future, first_left, month_end)
    today = float(left[0]) if len(left) else 0.0
    trend = budget_trend(outlook.past, today, as_of, t)
    held = left
    left, level_var = expected_budgets(outlook, left, first_left, trend, t)
    if outlook.follow is not None and len(left):
        # The runs keep the scope on course to its plan: the days after the known budgets
        # go where the plan's range takes them, not where the budgets were heading.
        known = _known_days(outlook, held, first_left)
        left = plan_path(float(left[known - 1]), left[:known], spend_to_date, ratio, len(left),
                         outlook.follow)
    remaining = ratio * float(left.sum())
    # Each day left varies on its own around the ratio, and the ratio itself is an estimate
    # from n days (plus the prior's weight): the two spreads add.
    total_left = float(left.sum())
    spread = var * float((left**2).sum()) + var / max(n + t.prior_days, 1.0) * total_left**2
    if outlook.follow is not None:
        # Where in its range the runs keep the scope, all days left together (uniform).
        spread += (ratio * outlook.follow.band * total_left) ** 2 / 3
    elif trend.days:
        # A budget strays from its line for some days at a time: the days left stray
        # together in runs of ``stray_days``.
        runs = min(t.stray_days, max(len(left), 1))
        spread += ratio**2 * runs * float((left**2 * level_var).sum())
    else:
        # Budgets not yet approved will move as they have moved: a random walk with the
        # scope's daily variance of budget changes, so day k's budget varies by k x that;
        # summed over the days left, (sum of the budgets from day k on)^2 per day k.
        tails = np.cumsum(left[::-1])[::-1]
        spread += ratio**2 * budget_drift(outlook.past, as_of, t) * float((tails**2).sum())
    if outlook.heading and t.heading_weight > 0 and outlook.follow is None:
        # Whether the runs keep to that path: their targets swing run to run, so the step
        # itself is uncertain, all days left together (it grows with them).
        full, _ = expected_budgets(outlook, held, first_left, trend,
                                   replace(t, heading_weight=1.0))
        spread += (ratio * HEADING_SD * float(np.abs(full - held).sum()))**2
    half = Z80 * spread**0.5
    value = spend_to_date + remaining
    return Forecast(value, spend_to_date + max(0.0, remaining - half), value + half, "budgets",
                    ratio)


def run_rate_forecast(
    hist: np.ndarray, h_start: dt.date, spend_to_date: float, rate: float, weights: np.ndarray,
    *, as_of: dt.date, month_start: dt.date, month_end: dt.date, t: PacingThresholds,
) -> Forecast:
    """Month-to-date + run rate x the weights of the days left, with an 80% range from the
    day-to-day variance of the deseasoned spend over the run-rate window."""
    first_left = max(month_start, as_of + dt.timedelta(days=1))
    left_w = _weight_sum(weights, first_left, month_end)
    left_days = max(0, (month_end - first_left).days + 1)
    rr_start = max(h_start, as_of - dt.timedelta(days=t.run_rate_days - 1))
    window = hist[(rr_start - h_start).days:]
    if len(window) > 1:
        deseasoned = window / weights[(np.arange(len(window)) + rr_start.weekday()) % 7]
        var, n = float(deseasoned.var(ddof=1)), len(window)
    else:
        var, n = (0.25 * rate) ** 2, 1
    half = Z80 * (var * left_days + var / n * left_days**2) ** 0.5
    remaining = rate * left_w
    value = spend_to_date + remaining
    return Forecast(value, spend_to_date + max(0.0, remaining - half), value + half, "run_rate")


def pacing_status(forecast_ratio: float | None, t: PacingThresholds) -> str:
    if forecast_ratio is None:
        return "no_plan"
    if forecast_ratio > 1 + t.over:
        return "over"
    if forecast_ratio < 1 - t.under:
        return "under"
    return "on_track"


def pace(
    daily: Mapping[dt.date, float], *, planned: float | None, month: dt.date, as_of: dt.date,
    thresholds: PacingThresholds = PacingThresholds(),
    first_day: dt.date | None = None, budgets: BudgetOutlook | None = None,
) -> PacingResult:
    """Pacing of one scope. ``daily`` maps a day to its spend (missing days spent nothing);
    ``first_day`` is when the scope started spending (default: its first day in ``daily``);
    days before it are not history, so a new campaign's run rate is not diluted by zeros.
    With ``budgets`` the forecast follows them (method ``budgets``); without, or when they
    say nothing of the pace, it follows the run rate (method ``run_rate``)."""
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
    by_rate = run_rate_forecast(hist, h_start, spend_to_date, rate, weights, as_of=as_of,
                                month_start=m_start, month_end=m_end, t=t)
    by_budget = None if budgets is None else budget_forecast(
        daily, spend_to_date, budgets, as_of=as_of, month_start=m_start, month_end=m_end, t=t,
        first_day=first_day)
    f = by_budget or by_rate

    total_w = _weight_sum(weights, m_start, m_end)
    elapsed_w = _weight_sum(weights, m_start, elapsed_end)
    plan = float(planned) if planned is not None else 0.0
    expected = plan * elapsed_w / total_w if total_w else 0.0
    pace_ratio = spend_to_date / expected if expected > 0 else None
    forecast_ratio = f.value / plan if plan > 0 else None
    return PacingResult(
        planned=plan, spend_to_date=spend_to_date, expected_to_date=expected,
        forecast=float(f.value), run_rate=rate, pace_ratio=pace_ratio,
        forecast_ratio=forecast_ratio,
        status=pacing_status(forecast_ratio, t), days_elapsed=days_elapsed,
        days_in_month=days_in_month, weekday_weights=tuple(float(x) for x in weights),
        forecast_low=float(f.low), forecast_high=float(f.high), forecast_method=f.method,
        delivery_ratio=None if f.delivery_ratio is None else float(f.delivery_ratio),
        run_rate_forecast=float(by_rate.value),
    )


def plan_band(planned: float, spend_to_date: float, days_left: int, ratio: float | None,
              current: float, *, band: float, max_change: float) -> tuple[float, float] | None:
    """The range for a scope's daily budgets (summed) that lands its month on its plan: what
    the plan has left over the days left (today included), divided by the scope's delivery
    ratio (spend per unit of budget), +- ``band``. Where that range is out of one run's reach
    it is moved to half a run's ``max_change`` from ``current``: the scope goes towards its
    plan run after run and keeps room for its campaigns to trade budget and for the limits
    inside it. ``None`` without a plan or a day left."""
    if planned <= 0 or days_left <= 0:
        return None
    r = ratio if ratio is not None and ratio > 0 else 1.0
    pace = max(planned - spend_to_date, 0.0) / days_left / r
    low, high = pace * (1 - band), pace * (1 + band)
    step = max_change / 2
    return min(low, current * (1 + step)), max(high, current * (1 - step))

