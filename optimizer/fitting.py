"""Fit response curves for many units at once.

The fit is a grid posterior, vectorised over units: for each candidate half-spend on a
log grid (relative to the unit's typical spend) the gain has a conjugate normal posterior,
so its marginal likelihood is closed form and the posterior over the grid is a softmax.
No per-unit optimiser runs, which is what makes 10,000 units x 90 days take seconds.

Real data is handled as follows:
- conversion lag: recent days are still collecting conversions. With `completion` (the
  expected share of each recent day's final results known so far, `optimizer.completion`)
  they are nowcast: scaled up by that share, with the extra variance it implies (a day 30%
  reported weighs far less than a complete one), so a change shows in days, not a week
  late. The last `lag_days` days are left out altogether (without `completion`, the only
  defence: they would read as a drop);
- shapes are pooled campaign -> account -> network (`optimizer/pooling.py`): each unit's
  shape is shrunk toward its account's, and that toward its network's, by the spreads the
  units themselves show (learnt, not fixed);
- spend that hardly varies: the likelihood is then flat along the curve's shape, so the
  shape is its account's pooled one, the gain is set by the observed level, and the shape's
  posterior sd is the learnt spread between campaigns (`identified` is False);
- new units / little history: the prior (pooled shape, network cost per result) dominates;
- zero-result days: the noise model is Gaussian on counts, so zeros are ordinary data;
- day-of-week: a multiplicative factor per network and weekday, pooled over the network's
  units and shrunk toward 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from optimizer.curves import CurveSet
from optimizer.errors import InvalidInputError
from optimizer.funnel import click_evidence
from optimizer.pooling import ShapePrior, pool_shapes

GRID = np.exp(np.linspace(np.log(0.03), np.log(30.0), 56))
LOG_GRID = np.log(GRID)
# The gain prior is centred on the network's cost per result; a cv of 1 keeps it weak.
GAIN_PRIOR_CV = 1.0
IDENTIFIED_LOG_SD = 0.6
WIDE_LOG_SD = 1.0
# A unit's level may have changed this many days ago (newest kept day = 1); each split is
# a priori this likely. The level is then averaged over "no change" and the splits.
CHANGE_SPLITS = (4, 7, 10, 14, 21, 28, 42)
CHANGE_PRIOR = 0.03
CHANGE_SD = 0.3  # prior sd of a change, relative to the level


@dataclass(frozen=True)
class _Panel:
    unit_ids: tuple[str, ...]
    network: tuple[str, ...]
    network_code: np.ndarray
    spend: np.ndarray
    result: np.ndarray
    weight: np.ndarray
    weekday: np.ndarray
    typical_spend: np.ndarray
    fx: np.ndarray
    observed: np.ndarray | None = None  # days with data (weight is their evidence weight)
    # Where the returned curve must be right: the current budget (typical spend without one).
    anchor: np.ndarray | None = None


@dataclass(frozen=True)
class _Posterior:
    prob: np.ndarray
    gain_mean: np.ndarray
    gain_var: np.ndarray
    loglik: np.ndarray  # units x grid: log marginal likelihood of each shape (max 0)


# A series read: its panel, shape likelihood, weekday factors, gain prior rate and noise.
_Read = tuple[_Panel, _Posterior, np.ndarray, np.ndarray, np.ndarray]


def fit_curves(
    history: pd.DataFrame,
    *,
    today: dt.date,
    metric: str = "conversions",
    lag_days: int = 3,
    window_days: int = 90,
    units: pd.DataFrame | None = None,
    n_draws: int = 32,
    seed: int = 0,
    half_life_days: float | None = None,
    completion: pd.DataFrame | None = None,
    level_changes: bool = True,
    shape_from: str | None = None,
    shape_hint: str | None = None,
) -> CurveSet:
    """Fit one curve per unit for `metric` ("conversions" or "revenue").

    `history` has columns unit_id, network, date, spend and the metric, one row per unit and
    day (several rows for one unit and day are summed). Days with age <= `lag_days` (age =
    today - date, so yesterday is 1) are excluded; so are days older than
    `lag_days + window_days`. `units` (unit_id, network, optional current_budget and fx to
    the reporting currency) adds units without history and gives their spend scale.
    `half_life_days` weights each day by 0.5 ** (age / half_life_days): a campaign whose
    efficiency changed is re-learnt from its recent days (None: every day counts fully).
    `completion` (unit_id, date, share, share_sd) nowcasts the days still collecting results:
    each listed day is read as its result / share, weighted down by the variance that adds.
    With `level_changes`, a unit whose level (results at a given spend) changed within the
    window is read at its new level: the shape is learnt from the whole window (it needs the
    spread of spend), the level from the days since the change (`_level_change`).
    `shape_from` (a column of `history`, e.g. "conversions" for revenue) reads the shape
    from that series instead: revenue is conversions times values that scatter from day to
    day, so its own days say less about saturation than the conversions behind it.
    `shape_hint` (a column of `history`, "clicks") is the funnel above the results: where a
    unit's clicks are plentiful, their curve is evidence on the results' shape
    (`optimizer/funnel.py`: how much of the saturation lives in delivery is learnt across
    the units); it is counted as reported at once (not nowcast).
    """
    return fit_curve_sets(
        history, metrics=(metric,), today=today, lag_days=lag_days, window_days=window_days,
        units=units, n_draws=n_draws, seed=seed, half_life_days=half_life_days,
        completion=completion, level_changes=level_changes, shape_from=shape_from,
        shape_hint=shape_hint)[metric]


def fit_curve_sets(
    history: pd.DataFrame,
    *,
    metrics: tuple[str, ...],
    today: dt.date,
    lag_days: int = 3,
    window_days: int = 90,
    units: pd.DataFrame | None = None,
    n_draws: int = 32,
    seed: int = 0,
    half_life_days: float | None = None,
    completion: pd.DataFrame | None = None,
    level_changes: bool = True,
    shape_from: str | None = None,
    shape_hint: str | None = None,
) -> dict[str, CurveSet]:
    """`fit_curves` for each of `metrics` (same options), each series read once.

    The curves are those `fit_curves` gives metric by metric; what they share is computed
    once: revenue's shape read from the conversions (`shape_from`) is the conversions' own
    read, with the clicks' evidence on it (`shape_hint`), so fitting conversions and revenue
    together costs one read of each series and one of the click evidence.
    """
    reads: dict[str, _Read] = {}
    layouts: list[_Layout] = []

    def layout() -> _Layout:
        if not layouts:  # the dates parsed and the rows placed once for all the series
            layouts.append(_layout(history, today, lag_days, window_days, units))
        return layouts[0]
    shapes: dict[tuple[str, bool], tuple[np.ndarray, ShapePrior]] = {}

    def read(column: str) -> _Read:
        if column not in reads:
            panel = _panel(history, today, column, lag_days, window_days, units, half_life_days,
                           completion, layout)
            reads[column] = (panel, *_likelihood(panel))
        return reads[column]

    fits = {}
    for metric in metrics:
        panel, like, weekday, rate, noise = read(metric)
        counted, source = panel, metric  # the series whose days the shape is read from
        if shape_from not in (None, metric) and shape_from in history.columns:
            # The shape (how fast the curve saturates) is read from the steadier series; the
            # gain at each shape stays this metric's own.
            shape_panel, shape_like, *_ = read(shape_from)
            if shape_panel.unit_ids == panel.unit_ids:
                like = replace(like, loglik=shape_like.loglik)
                counted, source = shape_panel, shape_from
        hinted = shape_hint not in (None, metric) and shape_hint in history.columns
        if (source, hinted) not in shapes:
            # The same series, units and pool: the same shape prior and click evidence, so
            # revenue reuses the conversions' (same unit ids, so the same network codes).
            groups = _account_codes(panel.unit_ids, history, units)
            prior = pool_shapes(like.loglik, LOG_GRID, panel.network_code, groups)
            loglik = like.loglik
            if hinted:
                assert shape_hint is not None
                hint = _panel(history, today, shape_hint, lag_days, window_days, units,
                              half_life_days, None, layout)  # counted as reported at once
                loglik = _with_clicks(like.loglik, counted, prior, hint)
            shapes[source, hinted] = (loglik, prior)
        loglik, prior = shapes[source, hinted]
        post = _with_prior(replace(like, loglik=loglik), prior.mean, prior.sd)
        if level_changes:
            post = _level_change(panel, post, weekday, noise)
        fits[metric] = _curve_set(panel, post, weekday, rate, prior.mean, metric, n_draws,
                                  seed, prior.sd)
    return fits


def _panel(
    history: pd.DataFrame, today: dt.date, column: str, lag_days: int, window_days: int,
    units: pd.DataFrame | None, half_life_days: float | None,
    completion: pd.DataFrame | None, layout: Callable[[], _Layout] | None = None,
) -> _Panel:
    """One series' panel, nowcast with `completion` and recency weighted."""
    panel = _build_panel(history, today, column, lag_days, window_days, units, layout)
    if completion is not None and len(completion):
        panel = _nowcast(panel, completion, today, lag_days, window_days)
    if half_life_days:
        panel = _recency_weighted(panel, lag_days, half_life_days)
    return panel


# A unit's clicks are read only when plentiful: at least this many over the window and
# this many times its results (a few clicks say no more than the conversions do).
MIN_CLICKS = 200.0
MIN_CLICKS_PER_RESULT = 5.0


def _with_clicks(
    loglik: np.ndarray, counted: _Panel, prior: ShapePrior, hint_panel: _Panel
) -> np.ndarray:
    """The results' shape log likelihood with the clicks' evidence on it
    (`optimizer/funnel`)."""
    if hint_panel.unit_ids != counted.unit_ids:
        return loglik
    clicks = (hint_panel.result * hint_panel.weight).sum(1)
    results = (counted.result * counted.weight).sum(1)
    spread = _spend_spread(counted)
    usable = (clicks >= MIN_CLICKS) & (clicks >= MIN_CLICKS_PER_RESULT * results) & \
        (spread > 0.05)
    if not usable.any():
        return loglik  # decided before the clicks' likelihood: nothing to read it for
    # The clicks' shape likelihood of the usable units only; the weekday factors it reads
    # with are still pooled over all the units, as the first pass gives them.
    click_loglik = np.zeros_like(loglik)
    click_loglik[usable] = _likelihood(hint_panel, usable)[0].loglik
    pooled = np.exp(-0.5 * ((LOG_GRID[None, :] - prior.mean[:, None]) / prior.sd[:, None]) ** 2)
    pooled /= pooled.sum(axis=1, keepdims=True)
    evidence = click_evidence(click_loglik, loglik, pooled, LOG_GRID, usable)
    return loglik + evidence.loglik


def _spend_spread(panel: _Panel) -> np.ndarray:
    """The weighted sd of log spend over a unit's days with spend: without spread, a
    unit's clicks cannot tell their curve's shape either."""
    w = panel.weight * (panel.spend > 0)
    logs = np.log(np.maximum(panel.spend, 1e-12))
    count = np.maximum(w.sum(1), 1e-12)
    mean = (w * logs).sum(1) / count
    return np.sqrt(np.maximum((w * (logs - mean[:, None]) ** 2).sum(1) / count, 0.0))


def _likelihood(
    panel: _Panel, rows: np.ndarray | None = None,
) -> tuple[_Posterior, np.ndarray, np.ndarray, np.ndarray]:
    """The grid likelihood of each unit's shape, with the weekday factors, the gain prior's
    rate and the noise it was read with (a first pass on a wide prior sets the last two).
    With `rows` (a mask), the likelihood, rate and noise of those units only: the weekday
    factors are still learnt from all of them."""
    n_networks = len(set(panel.network))
    rate = _unit_rate(panel, n_networks)
    ones = np.ones((n_networks, 7))
    noise = _initial_noise(panel)
    first = _grid_posterior(panel, ones, rate, np.zeros(len(panel.unit_ids)), 1.5, noise)
    gain, half, _ = _point_estimate(panel, first, ones, rate, np.zeros(len(panel.unit_ids)))
    fitted = gain[:, None] * panel.spend / (panel.spend + half[:, None])
    weekday = _weekday_factors(panel, fitted, n_networks)
    if rows is not None:
        panel, fitted, rate = _subset(panel, rows), fitted[rows], rate[rows]
    noise = _residual_noise(panel, fitted * weekday[panel.network_code[:, None], panel.weekday])
    return _grid_likelihood(panel, weekday, rate, noise), weekday, rate, noise


def _subset(panel: _Panel, rows: np.ndarray) -> _Panel:
    """The panel of some units (a mask), row for row the same numbers."""
    def pick(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[rows]

    spend, result, weight = panel.spend[rows], panel.result[rows], panel.weight[rows]
    return replace(panel, unit_ids=tuple(np.asarray(panel.unit_ids, dtype=object)[rows]),
                   network=tuple(np.asarray(panel.network, dtype=object)[rows]),
                   network_code=panel.network_code[rows], spend=spend, result=result,
                   weight=weight, typical_spend=panel.typical_spend[rows], fx=panel.fx[rows],
                   observed=pick(panel.observed), anchor=pick(panel.anchor))


def _build_panel(
    history: pd.DataFrame,
    today: dt.date,
    metric: str,
    lag_days: int,
    window_days: int,
    units: pd.DataFrame | None,
    layout: Callable[[], _Layout] | None = None,
) -> _Panel:
    """`metric`'s panel; `layout` gives `_layout` of the same history, today, window and
    units (where each row goes), shared by the series of one history."""
    missing = {"unit_id", "network", "date", "spend", metric} - set(history.columns)
    if missing:
        raise InvalidInputError(f"history lacks columns: {', '.join(sorted(missing))}")
    base, keep, rows, cols = (layout() if layout is not None
                              else _layout(history, today, lag_days, window_days, units))
    result = np.zeros(base.spend.shape)
    np.add.at(result, (rows, cols), np.nan_to_num(history[metric].to_numpy(dtype=float)[keep]))
    if np.any(base.spend < 0) or np.any(result < 0):
        raise InvalidInputError("history has negative spend or results")
    return replace(base, result=result)


# Where each kept row of a history goes: the panel without results, the rows kept, their
# unit rows and day columns.
_Layout = tuple[_Panel, np.ndarray, np.ndarray, np.ndarray]


def _layout(
    history: pd.DataFrame,
    today: dt.date,
    lag_days: int,
    window_days: int,
    units: pd.DataFrame | None,
) -> _Layout:
    # Column by column, without copying the history: at 50,000 units x 97 days every copy
    # of the frame costs hundreds of megabytes. Rows keep their order, so sums are the same.
    age = (pd.Timestamp(today) - pd.to_datetime(history["date"])).dt.days.to_numpy()
    keep = (age > lag_days) & (age <= lag_days + window_days)
    if not keep.any():
        first = today - dt.timedelta(days=lag_days + window_days)
        last = today - dt.timedelta(days=lag_days + 1)
        raise InvalidInputError(
            f"no history between {first.isoformat()} and {last.isoformat()} (the fitting "
            f"window for {today.isoformat()}): the data is too old or missing"
        )
    # One (unit, network) pair per unit, the last seen as a row-by-row dict would keep.
    networks = _mapping(history.loc[:, ["unit_id", "network"]].drop_duplicates(
        "unit_id", keep="last"), "network", str)
    budgets: dict[str, float] = {}
    fx_of: dict[str, float] = {}
    if units is not None:
        networks.update(_mapping(units, "network", str))
        if "current_budget" in units.columns:
            budgets = _mapping(units, "current_budget", float)
        if "fx" in units.columns:
            fx_of = _mapping(units, "fx", float)
    unit_ids = tuple(sorted(networks))
    index = {u: i for i, u in enumerate(unit_ids)}
    n_days = window_days
    shape = (len(unit_ids), n_days)
    spend = np.zeros(shape)
    result = np.zeros(shape)  # each series' own (`_build_panel`)
    weight = np.zeros(shape)
    rows = _positions(history["unit_id"].to_numpy()[keep], index)
    cols = window_days + lag_days - age[keep]
    np.add.at(spend, (rows, cols), history["spend"].to_numpy(dtype=float)[keep])
    weight[rows, cols] = 1.0
    first_day = today - dt.timedelta(days=lag_days + window_days)
    weekday = (np.arange(n_days) + first_day.weekday()) % 7
    network = tuple(networks[u] for u in unit_ids)
    codes = pd.factorize(pd.Series(network))[0]
    typical = _typical_spend(spend, weight, unit_ids, codes, budgets)
    fx = np.asarray([fx_of.get(u, 1.0) for u in unit_ids])
    budget = np.asarray([budgets.get(u, np.nan) for u in unit_ids])
    anchor = np.where(budget > 0, budget, typical)
    return (_Panel(unit_ids, network, codes, spend, result, weight, weekday, typical, fx,
                   anchor=anchor), keep, rows, cols)


def _recency_weighted(panel: _Panel, lag_days: int, half_life_days: float) -> _Panel:
    """Down-weight old days (a tempered likelihood: the weight scales each day's evidence)."""
    n_days = panel.spend.shape[1]
    age = n_days - np.arange(n_days)  # the newest kept day has age 1
    decay = 0.5 ** ((age - 1) / half_life_days)
    observed = panel.weight if panel.observed is None else panel.observed
    return replace(panel, weight=panel.weight * decay, observed=observed)


def _nowcast(
    panel: _Panel, completion: pd.DataFrame, today: dt.date, lag_days: int, window_days: int
) -> _Panel:
    """Scale each still-arriving day up to its expected final result, and weigh it by how
    much of it is known.

    A day that is a share s reported, read as result / s, carries the noise of a day with
    only s of its results (variance sigma^2 / s) plus the share's own uncertainty (relative
    sd cv, times the unit's level m): its weight is sigma^2 / (sigma^2 / s + m^2 cv^2).
    """
    index = {u: i for i, u in enumerate(panel.unit_ids)}
    rows = _positions(completion["unit_id"].to_numpy(), index, missing=-1)
    age = (pd.Timestamp(today) - pd.to_datetime(completion["date"])).dt.days.to_numpy()
    inside = (rows >= 0) & (age > lag_days) & (age <= lag_days + window_days)
    share = np.ones_like(panel.result)
    cv = np.zeros_like(panel.result)
    r = rows[inside]
    c = window_days + lag_days - age[inside]
    s = np.clip(completion["share"].to_numpy(dtype=float)[inside], 0.02, 1.5)
    share[r, c] = s
    cv[r, c] = completion["share_sd"].to_numpy(dtype=float)[inside] / s
    complete = panel.weight * (share >= 1.0)
    # The unit's level and noise from its complete days (all days when none is complete).
    base = np.where(complete.sum(1, keepdims=True) > 0, complete, panel.weight)
    count = np.maximum(base.sum(1), 1.0)
    level = (panel.result * base).sum(1) / count
    sigma2 = ((panel.result - level[:, None]) ** 2 * base).sum(1) / count
    sigma2 = np.maximum(np.maximum(sigma2, level), 1e-9)[:, None]
    factor = sigma2 / (sigma2 / np.minimum(share, 1.0) + (level[:, None] * cv) ** 2)
    observed = panel.weight if panel.observed is None else panel.observed
    return replace(panel, result=panel.result / share, weight=panel.weight * factor,
                   observed=observed)


def _positions(ids: np.ndarray, index: dict[str, int], missing: int | None = None) -> np.ndarray:
    """Each row's unit position: looked up once per distinct unit, not per row (a Series.map
    over 900,000 rows took a second). ``missing`` marks ids not in ``index``."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=False)  # a NaN id reads as "nan"
    at = np.fromiter((index.get(str(u), -1 if missing is None else missing) for u in uniques),
                     dtype=np.int64, count=len(uniques))
    if missing is None and (at < 0).any():
        raise KeyError("history has a unit without a position")
    return at[codes]


def _mapping(frame: pd.DataFrame, column: str, kind: type) -> dict:
    return dict(zip(frame["unit_id"].astype(str), frame[column].astype(kind), strict=True))


def _typical_spend(
    spend: np.ndarray,
    weight: np.ndarray,
    unit_ids: tuple[str, ...],
    codes: np.ndarray,
    budgets: dict[str, float],
) -> np.ndarray:
    active = weight * (spend > 0)
    count = active.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        typical = np.where(count > 0, (spend * active).sum(axis=1) / count, np.nan)
    budget = np.asarray([budgets.get(u, np.nan) for u in unit_ids])
    typical = np.where(np.isnan(typical) & (budget > 0), budget, typical)
    # A unit with neither history nor budget borrows its network's median scale.
    for code in np.unique(codes):
        members = codes == code
        known = typical[members & ~np.isnan(typical)]
        fill = float(np.median(known)) if known.size else 1.0
        typical[members & np.isnan(typical)] = fill
    return np.maximum(typical, 1e-9)


def _unit_rate(panel: _Panel, n_networks: int) -> np.ndarray:
    """Results per unit of spend that centres each unit's gain prior.

    A unit with spend uses its own average (currency-safe: it is in the unit's currency);
    a unit without any borrows the median of its network, compared in the reporting
    currency through `fx` so that a JPY and a EUR account can share a network.
    """
    spend = (panel.spend * panel.weight).sum(1)
    result = (panel.result * panel.weight).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(spend > 0, np.maximum(result, 0.5) / spend, np.nan)
    reporting = own / panel.fx
    borrowed = np.full(n_networks, np.nan)
    for code in range(n_networks):
        known = reporting[(panel.network_code == code) & ~np.isnan(reporting)]
        if known.size:
            borrowed[code] = np.median(known)
    fallback = np.nanmedian(reporting) if np.any(~np.isnan(reporting)) else 1.0
    borrowed = np.where(np.isnan(borrowed), fallback, borrowed)
    rate = np.where(np.isnan(own), borrowed[panel.network_code] * panel.fx, own)
    return np.maximum(rate, 1e-12)


def _initial_noise(panel: _Panel) -> np.ndarray:
    count = np.maximum(panel.weight.sum(1), 1.0)
    mean = (panel.result * panel.weight).sum(1) / count
    var = ((panel.result - mean[:, None]) ** 2 * panel.weight).sum(1) / count
    return np.maximum(np.maximum(var, mean), 1e-6 + 1e-6 * mean**2)


def _residual_noise(panel: _Panel, fitted: np.ndarray) -> np.ndarray:
    count = panel.weight.sum(1)
    resid = ((panel.result - fitted) ** 2 * panel.weight).sum(1)
    mean = (fitted * panel.weight).sum(1) / np.maximum(count, 1.0)
    # Counts are at least Poisson-noisy; few days borrow that floor as prior evidence.
    floor = np.maximum(mean, 1e-6 + 1e-4 * mean**2)
    prior_days = 5.0
    return (resid + prior_days * floor) / (count + prior_days)


def _grid_posterior(
    panel: _Panel,
    weekday: np.ndarray,
    rate: np.ndarray,
    prior_mean: np.ndarray,
    prior_sd: float | np.ndarray,
    noise: np.ndarray,
) -> _Posterior:
    return _with_prior(_grid_likelihood(panel, weekday, rate, noise), prior_mean, prior_sd)


def _grid_likelihood(
    panel: _Panel, weekday: np.ndarray, rate: np.ndarray, noise: np.ndarray
) -> _Posterior:
    """Per unit and grid shape: the log marginal likelihood (gain integrated out) and the
    gain's conditional posterior; `prob` is left flat until a shape prior is applied."""
    n_units = len(panel.unit_ids)
    loglik = np.empty((n_units, GRID.size))
    gain_mean = np.empty_like(loglik)
    gain_var = np.empty_like(loglik)
    day_factor = weekday[panel.network_code[:, None], panel.weekday]
    wy = panel.weight * panel.result * day_factor
    wd2 = panel.weight * day_factor**2
    for k, ratio in enumerate(GRID):
        half = panel.typical_spend * ratio
        shape = panel.spend / (panel.spend + half[:, None])
        sxx = (wd2 * shape**2).sum(1)
        sxy = (wy * shape).sum(1)
        prior_gain = rate * panel.typical_spend * (1.0 + ratio)
        prior_var = (GAIN_PRIOR_CV * prior_gain) ** 2
        precision = sxx / noise + 1.0 / prior_var
        mean = (sxy / noise + prior_gain / prior_var) / precision
        logml = -0.5 * (prior_gain**2 / prior_var - mean**2 * precision)
        logml -= 0.5 * np.log(prior_var * precision)
        loglik[:, k] = logml
        gain_mean[:, k] = mean
        gain_var[:, k] = 1.0 / precision
    loglik -= loglik.max(axis=1, keepdims=True)
    flat = np.full_like(loglik, 1.0 / GRID.size)
    return _Posterior(flat, gain_mean, gain_var, loglik)


def _level_change(
    panel: _Panel, post: _Posterior, weekday: np.ndarray, noise: np.ndarray
) -> _Posterior:
    """Re-read each unit's level from the days since a change of its efficiency.

    At the unit's fitted shape, the level is a one-parameter regression; a change `L` days
    ago splits it in two (before, since). Each split's Bayes factor against "no change" (the
    jump's prior: normal, CHANGE_SD of the level) gives its posterior probability; the unit's
    gain at every grid shape is scaled by the expected ratio of the level since the change
    to the window's, its variance by the evidence left (fewer days, less sure). The shape
    stays the whole window's: a change of efficiency moves the level, not the saturation.
    """
    log_ratio = post.prob @ LOG_GRID
    half = panel.typical_spend * np.exp(log_ratio)
    day_factor = weekday[panel.network_code[:, None], panel.weekday]
    x = day_factor * panel.spend / (panel.spend + half[:, None])
    # Sums from the newest day backwards: column L-1 holds the last L days.
    sxx = np.cumsum((panel.weight * x * x)[:, ::-1], axis=1)
    sxy = np.cumsum((panel.weight * x * panel.result)[:, ::-1], axis=1)
    days = np.cumsum(panel.weight[:, ::-1] > 0, axis=1)
    all_xx, all_xy = sxx[:, -1], sxy[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        level = all_xy / all_xx
        log_odds = [np.zeros(level.size)]
        ratios = [np.ones(level.size)]
        evidence = [np.ones(level.size)]
        for split in CHANGE_SPLITS:
            if split >= sxx.shape[1]:
                break
            new_xx, new_xy = sxx[:, split - 1], sxy[:, split - 1]
            old_xx, old_xy = all_xx - new_xx, all_xy - new_xy
            usable = (new_xx > 0) & (old_xx > 0) & (all_xy > 0) & (days[:, split - 1] >= 3)
            new_level, old_level = new_xy / new_xx, old_xy / old_xx
            jump = new_level - old_level
            var = noise / new_xx + noise / old_xx
            prior_var = (CHANGE_SD * level) ** 2
            keep = prior_var / (var + prior_var)  # the jump's posterior shrinkage
            odds = (0.5 * np.log(var / (var + prior_var)) + 0.5 * jump**2 / var * keep
                    + np.log(CHANGE_PRIOR))
            log_odds.append(np.where(usable, odds, -np.inf))
            changed = np.maximum(old_level + keep * jump, 0.0)
            ratios.append(np.where(usable, changed / level, 1.0))
            evidence.append(np.where(usable, all_xx / new_xx, 1.0))
    odds_arr = np.asarray(log_odds)
    prob = np.exp(odds_arr - odds_arr.max(axis=0))
    prob /= prob.sum(axis=0)
    ratio_arr = np.nan_to_num(np.asarray(ratios), nan=1.0, posinf=1.0)
    factor = (prob * ratio_arr).sum(0)
    spread = (prob * ratio_arr**2).sum(0) - factor**2
    inflate = (prob * np.asarray(evidence) * ratio_arr**2).sum(0) + np.maximum(spread, 0.0)
    inflate = np.maximum(inflate, factor**2)
    return replace(post, gain_mean=post.gain_mean * factor[:, None],
                   gain_var=post.gain_var * inflate[:, None])


def _with_prior(
    like: _Posterior, prior_mean: np.ndarray, prior_sd: float | np.ndarray
) -> _Posterior:
    """The grid posterior under a normal prior on log half-spend (per unit mean and sd)."""
    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), prior_mean.shape)
    logpost = like.loglik - 0.5 * ((LOG_GRID - prior_mean[:, None]) / sd[:, None]) ** 2
    logpost -= logpost.max(axis=1, keepdims=True)
    prob = np.exp(logpost)
    prob /= prob.sum(axis=1, keepdims=True)
    return replace(like, prob=prob)


def _point_estimate(
    panel: _Panel,
    post: _Posterior,
    weekday: np.ndarray,
    rate: np.ndarray,
    prior_mean: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean of log half-spend; the gain is the conditional mean at that shape."""
    log_ratio = post.prob @ LOG_GRID
    log_sd = np.sqrt(np.maximum(post.prob @ LOG_GRID**2 - log_ratio**2, 0.0))
    k_low = np.clip(np.searchsorted(LOG_GRID, log_ratio) - 1, 0, GRID.size - 2)
    frac = (log_ratio - LOG_GRID[k_low]) / (LOG_GRID[k_low + 1] - LOG_GRID[k_low])
    rows = np.arange(len(log_ratio))
    # Interpolating the conditional gain in log-shape keeps the point on the fitted ridge.
    gain = (1 - frac) * post.gain_mean[rows, k_low] + frac * post.gain_mean[rows, k_low + 1]
    half = panel.typical_spend * np.exp(log_ratio)
    return gain, half, log_sd


def _expected_curve(panel: _Panel, post: _Posterior) -> tuple[np.ndarray, np.ndarray]:
    """The curve through the posterior's expected results and expected marginal return at
    the unit's anchor (its current budget).

    What the allocation needs is the expected gain of moving a budget from where it is, i.e.
    the posterior mean of the level and of the slope there. The curve at the posterior mean
    shape is not that: with a shape known to within a factor of two either way (most units),
    averaging over the shape gives a different, and on average more accurate, slope. The
    returned Michaelis-Menten curve matches both expectations at the anchor exactly and the
    mixture closely within the max change around it.
    """
    anchor = panel.typical_spend if panel.anchor is None else panel.anchor
    s = np.maximum(anchor, 1e-12)[:, None]
    half_k = panel.typical_spend[:, None] * GRID
    gain_k = np.maximum(post.gain_mean, 0.0)
    level = (post.prob * gain_k * s / (s + half_k)).sum(1)
    slope = (post.prob * gain_k * half_k / (s + half_k) ** 2).sum(1)
    s = s[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Elasticity of the level at the anchor: half / (anchor + half) for the curve.
        elasticity = np.clip(slope * s / level, GRID[0] / (1 + GRID[0]),
                             GRID[-1] / (1 + GRID[-1]))
    elasticity = np.nan_to_num(elasticity, nan=0.5)
    half = elasticity * s / (1 - elasticity)
    gain = np.where(level > 0, level * (s + half) / s, 0.0)
    return gain, half


def _weekday_factors(panel: _Panel, fitted: np.ndarray, n_networks: int) -> np.ndarray:
    observed = np.zeros((n_networks, 7))
    expected = np.zeros((n_networks, 7))
    rows = np.repeat(panel.network_code, panel.weekday.size)
    cols = np.tile(panel.weekday, len(panel.unit_ids))
    np.add.at(observed, (rows, cols), (panel.result * panel.weight).ravel())
    np.add.at(expected, (rows, cols), (fitted * panel.weight).ravel())
    # Shrink toward 1 with a week's worth of pseudo-results per weekday.
    pseudo = np.maximum(expected.sum(1, keepdims=True) / 7.0 * 0.05, 1.0)
    factor = (observed + pseudo) / (expected + pseudo)
    return factor / factor.mean(axis=1, keepdims=True)


def _account_codes(
    unit_ids: tuple[str, ...], history: pd.DataFrame, units: pd.DataFrame | None
) -> np.ndarray:
    """A code per unit for its account (the level between campaign and network in the
    shape pool); units whose account is unknown share one group per network."""
    accounts: dict[str, str] = {}
    for frame in (history, units):
        if frame is not None and "account_id" in frame.columns:
            pairs = frame.loc[:, ["unit_id", "account_id"]].drop_duplicates("unit_id",
                                                                             keep="last")
            accounts.update(_mapping(pairs, "account_id", str))
    return pd.factorize(pd.Series([accounts.get(u, "") for u in unit_ids]))[0]


def _curve_set(
    panel: _Panel,
    post: _Posterior,
    weekday: np.ndarray,
    rate: np.ndarray,
    prior_mean: np.ndarray,
    metric: str,
    n_draws: int,
    seed: int,
    prior_sd: np.ndarray,
) -> CurveSet:
    _, _, log_sd = _point_estimate(panel, post, weekday, rate, prior_mean)
    gain, half = _expected_curve(panel, post)
    # Pinned by the unit's own data: the precision the data added to the pooled prior
    # would narrow a wide prior (sd WIDE_LOG_SD) to IDENTIFIED_LOG_SD. A tight pool alone
    # does not count: pooling improves the estimate of an unidentified curve, but it is
    # still borrowed.
    with np.errstate(divide="ignore"):
        own_precision = 1.0 / np.maximum(log_sd, 1e-9) ** 2 - 1.0 / prior_sd**2
    identified = own_precision + 1.0 / WIDE_LOG_SD**2 >= 1.0 / IDENTIFIED_LOG_SD**2
    mixture_mean = (post.prob * post.gain_mean).sum(1)
    second = (post.prob * (post.gain_var + post.gain_mean**2)).sum(1)
    gain_sd = np.sqrt(np.maximum(second - mixture_mean**2, 0.0))
    scale = 1.0 / (1.0 + GRID)
    level_k = post.gain_mean * scale
    level = (post.prob * level_k).sum(1)
    level_second = (post.prob * (post.gain_var * scale**2 + level_k**2)).sum(1)
    level_sd = np.sqrt(np.maximum(level_second - level**2, 0.0)) / np.maximum(level, 1e-12)
    draws_gain, draws_half = _draw(panel, post, n_draws, seed)
    names = list(dict.fromkeys(panel.network))
    weekday_frame = pd.DataFrame(weekday, index=names, columns=range(7))
    return CurveSet(
        unit_ids=panel.unit_ids,
        network=panel.network,
        metric=metric,
        gain=np.maximum(gain, 1e-12),
        half_spend=half,
        gain_sd=gain_sd,
        log_half_spend_sd=log_sd,
        level_sd=level_sd,
        typical_spend=panel.typical_spend,
        n_days=((panel.weight if panel.observed is None else panel.observed)
                * (panel.spend > 0)).sum(1),
        identified=identified,
        draws_gain=draws_gain,
        draws_half_spend=draws_half,
        weekday_factor=weekday_frame,
    )


def _draw(
    panel: _Panel, post: _Posterior, n_draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_units = len(panel.unit_ids)
    cumulative = np.cumulative_sum(post.prob, axis=1)
    u = rng.random((n_units, n_draws))
    k = np.empty((n_units, n_draws), dtype=np.int64)
    for j in range(n_draws):
        k[:, j] = (cumulative < u[:, j : j + 1]).sum(1)
    k = np.minimum(k, GRID.size - 1)
    rows = np.arange(n_units)[:, None]
    mean = post.gain_mean[rows, k]
    sd = np.sqrt(post.gain_var[rows, k])
    gain = np.maximum(mean + sd * rng.standard_normal((n_units, n_draws)), 1e-3 * mean)
    step = LOG_GRID[1] - LOG_GRID[0]
    jitter = rng.uniform(-0.5 * step, 0.5 * step, (n_units, n_draws))
    half = panel.typical_spend[:, None] * np.exp(LOG_GRID[k] + jitter)
    return gain, half
