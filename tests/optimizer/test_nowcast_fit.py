"""Fitting on recent days scaled by their expected completion sees a change in efficiency
days before a fit that leaves the still-arriving days out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from optimizer.completion import prior_curve
from optimizer.curves import response
from optimizer.fitting import fit_curves

START = dt.date(2025, 1, 1)
CHANGE = dt.date(2025, 3, 1)  # from this day on the units convert half as well
N_UNITS, GAIN, HALF = 12, 60.0, 200.0


def _world(today: dt.date, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History as read on `today`: recent days only partly reported (Meta's curve), and the
    completion the nowcast is told for them."""
    rng = np.random.default_rng(seed)
    days = (today - START).days
    dates = [START + dt.timedelta(days=d) for d in range(days)]
    spend = HALF * rng.uniform(0.4, 2.5, (N_UNITS, days))
    efficiency = np.where(np.array(dates) >= CHANGE, 0.5, 1.0)
    final = rng.poisson(response(spend, GAIN, HALF) * efficiency).astype(float)
    curve = prior_curve("meta")
    ages = np.array([(today - d).days for d in dates])
    share, sd = curve.at(ages)
    # What a sync has seen so far of each day: a binomial share of its final conversions.
    seen = rng.binomial(final.astype(np.int64), np.minimum(share, 1.0)).astype(float)
    units = [f"u{i}" for i in range(N_UNITS)]
    history = pd.DataFrame({
        "unit_id": np.repeat(units, days), "network": "meta",
        "date": np.tile(dates, N_UNITS), "spend": spend.ravel(),
        "conversions": seen.ravel(), "revenue": 30 * seen.ravel(),
    })
    recent = ages <= 30
    completion = pd.DataFrame({
        "unit_id": np.repeat(units, recent.sum()),
        "date": np.tile(np.array(dates)[recent], N_UNITS),
        "share": np.tile(share[recent], N_UNITS), "share_sd": np.tile(sd[recent], N_UNITS),
    })
    return history, completion


def _level(history: pd.DataFrame, today: dt.date, **kw: object) -> float:
    """Expected conversions of all units at the typical spend, relative to the truth before."""
    fitted = fit_curves(history, today=today, half_life_days=7, window_days=60, **kw)  # type: ignore[arg-type]
    got = response(np.full(N_UNITS, HALF), fitted.gain, fitted.half_spend).sum()
    return float(got / (N_UNITS * response(np.array(HALF), GAIN, HALF)))


def _first_day_seen(**kw: object) -> int:
    """Days after the change until the fitted level is below 90% of the old one (the true
    level halved)."""
    for after in range(1, 15):
        today = CHANGE + dt.timedelta(days=after)
        history, completion = _world(today)
        nowcast = kw.get("nowcast", False)
        options = {"lag_days": 0, "completion": completion} if nowcast else {"lag_days": 7}
        if _level(history, today, **options) < 0.9:
            return after
    return 99


def test_nowcast_sees_the_drop_days_sooner_than_dropping_days() -> None:
    with_nowcast = _first_day_seen(nowcast=True)
    dropped = _first_day_seen(nowcast=False)
    assert with_nowcast <= 4
    assert dropped - with_nowcast >= 4


def test_nowcast_does_not_read_arriving_conversions_as_a_drop() -> None:
    """Before any change, the recent half-reported days do not pull the level down, as
    they would if fitted raw."""
    today = CHANGE - dt.timedelta(days=1)
    history, completion = _world(today)
    assert abs(_level(history, today, lag_days=0, completion=completion) - 1) < 0.08
    assert _level(history, today, lag_days=0) < 0.95  # raw partial days: a false drop


def test_an_uncertain_completion_weighs_less() -> None:
    today = CHANGE - dt.timedelta(days=1)
    history, completion = _world(today)
    sure = fit_curves(history, today=today, lag_days=0, half_life_days=7,
                      completion=completion.assign(share_sd=0.0))
    unsure = fit_curves(history, today=today, lag_days=0, half_life_days=7,
                        completion=completion.assign(share_sd=completion["share"] * 0.5))
    # The same days are counted, the uncertain ones with less evidence: a wider level.
    assert np.array_equal(sure.n_days, unsure.n_days)
    assert np.all(unsure.level_sd > sure.level_sd)
