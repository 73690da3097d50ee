"""Where the closed loop loses: the optimiser's fitted curves with parts of the truth put in.

`closed_loop.py --oracle-part slope|scale|both` replaces, after the production fit and
before the allocation, each campaign's fitted elasticity at its current budget (`slope`:
how fast its results saturate there), its expected results there (`scale`: the level,
weekday included), or both, by the market's true ones for the day the budgets run. The
curve stays Michaelis-Menten through the new level and elasticity at the budget, so what
is left of the gap to the oracle is what the other part (or the allocation) costs.

The posterior draws (which a move's `prob_gain` reads) are moved the same way: with the
true slope every draw has it and keeps its own level; with the true level every draw has
it and keeps its own slope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from bench.market import Market
from optimizer import CurveSet

PARTS = ("slope", "scale", "both")
Fit = Callable[..., dict[str, CurveSet]]


def with_true_parts(fit: Fit, market: Market, day: int, part: str) -> Fit:
    """`fit` (`campaigns.optimization.curve_fits.fit_results`) whose curves carry the
    market's true `part` on `day` at each unit's current budget."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}")

    def fitted(history: pd.DataFrame, *, units: pd.DataFrame, today: dt.date,
               **options: Any) -> dict[str, CurveSet]:
        fits = fit(history, units=units, today=today, **options)
        weekday = (today + dt.timedelta(days=1)).weekday()  # what the allocation plans for
        return {metric: _true_parts(curves, units, market, day, weekday, part,
                                    revenue=metric == "revenue")
                for metric, curves in fits.items()}

    return fitted


def _true_parts(curves: CurveSet, units: pd.DataFrame, market: Market, day: int,
                weekday: int, part: str, *, revenue: bool) -> CurveSet:
    # The export names each campaign c00000.. in the market's order; unit ids end in it.
    index = np.asarray([int(u.rsplit(":", 1)[-1][1:]) for u in curves.unit_ids])
    budget = dict(zip(units["unit_id"], units["current_budget"], strict=True))
    anchor = np.asarray([budget.get(u, t) for u, t in
                         zip(curves.unit_ids, curves.typical_spend, strict=True)], dtype=float)
    at = market.base_budget.copy()
    at[index] = anchor
    worth = market.value * market.per_eur if revenue else np.ones(at.size)
    true_level = (market.expected(at, day) * worth)[index]
    true_slope = (market.marginal(at, day) * worth)[index]
    true_e = np.clip(true_slope * anchor / true_level, 1e-3, 1 - 1e-3)
    factor = curves.day_factor(weekday)  # the fit's weekday multiplier of the gain

    def moved(gain: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = anchor.reshape((-1,) + (1,) * (gain.ndim - 1))
        day_factor = factor.reshape(a.shape)
        level = gain * a / (a + half) * day_factor
        e = half / (a + half)
        if part in ("slope", "both"):
            e = np.broadcast_to(true_e.reshape(a.shape), gain.shape)
        if part in ("scale", "both"):
            level = np.broadcast_to(true_level.reshape(a.shape), gain.shape)
        new_half = e * a / (1 - e)
        return level / day_factor * (a + new_half) / a, new_half

    gain, half = moved(curves.gain, curves.half_spend)
    draws_gain, draws_half = moved(curves.draws_gain, curves.draws_half_spend)
    return replace(curves, gain=gain, half_spend=half, draws_gain=draws_gain,
                   draws_half_spend=draws_half)
