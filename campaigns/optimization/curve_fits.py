"""The conversions and revenue curves of a portfolio, fitted one way wherever they are used.

A proposal, the campaign page's curve and the backtest must read the same evidence the same
way: revenue takes its shape from the conversions, and both take the clicks' evidence on
it. Fitted apart, the page would draw a curve other than the one the proposal moved on.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from optimizer import CurveSet, fit_curve_sets

RESULTS = ("conversions", "revenue")


def fit_results(
    history: pd.DataFrame,
    *,
    units: pd.DataFrame,
    today: dt.date,
    lag_days: int,
    seed: int,
    half_life_days: float | None = None,
    completion: pd.DataFrame | None = None,
) -> dict[str, CurveSet]:
    """Both curves at once, each series read once (`fit_curve_sets`)."""
    return fit_curve_sets(history, metrics=RESULTS, today=today, lag_days=lag_days,
                          units=units, seed=seed, half_life_days=half_life_days,
                          completion=completion, shape_from="conversions", shape_hint="clicks")
