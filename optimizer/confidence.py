"""How sure each move is: the probability that it gains, and an interval for its effect.

A budget increase always buys some results, so "the move gains" is measured against the
money's use elsewhere in the portfolio: the effect of moving unit i from c to p is

    effect = f(p) - f(c) - price * (p - c)

in the objective's units (conversions, or revenue in the reporting currency), where `price`
is the portfolio's marginal return - what a unit of spend buys at the margin of the other
units. It is positive when the money does more here than it would elsewhere.

Over the fit's posterior draws of (gain, half-spend), the effect has a mean and an sd; the
probability of a gain is read from a normal approximation (smoother than counting 32
draws) and the interval is its central `level` share. A unit whose spend never varied has
draws that disagree on the curve's slope, so its interval is wide and its probability
near 0.5; a unit with varied spend over many days gets a narrow interval and a probability
near 0 or 1. A unit that does not move has no move to judge: NaN probability, zero effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from optimizer.curves import CurveSet, response

INTERVAL = 0.8


@dataclass(frozen=True)
class MoveConfidence:
    prob_gain: np.ndarray
    effect: np.ndarray
    effect_low: np.ndarray
    effect_high: np.ndarray


# The normal cdf from the standard library's erfc (exact in both tails): scipy.stats took
# about a second of imports in every `optimize` process, longer than the allocation.
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """P(Z <= x) for a standard normal Z, elementwise."""
    return np.asarray(0.5 * _ERFC(-np.asarray(x, dtype=float) / math.sqrt(2.0)), dtype=float)


def portfolio_price(marginal_return: np.ndarray, free: np.ndarray, spend: np.ndarray) -> float:
    """The marginal return of money in the portfolio: the median over units that no limit
    held (they are where the allocation balances returns), else the spend-weighted mean."""
    values = marginal_return[free & np.isfinite(marginal_return)]
    if values.size:
        return float(np.median(values))
    ok = np.isfinite(marginal_return) & (spend > 0)
    if not ok.any():
        return 0.0
    return float(np.average(marginal_return[ok], weights=spend[ok]))


def move_confidence(
    curves: CurveSet,
    rows: np.ndarray,
    current: np.ndarray,
    proposed: np.ndarray,
    *,
    fx: np.ndarray,
    day_factor: np.ndarray,
    price: float,
    revenue: bool,
    level: float = INTERVAL,
) -> MoveConfidence:
    """Per unit (rows of `curves`): budgets in the reporting currency; `fx` converts the
    unit's currency to it; `day_factor` is the weekday multiplier of the gain."""
    gain = curves.draws_gain[rows] * day_factor[:, None]
    if revenue:
        gain = gain * fx[:, None]
    half = curves.draws_half_spend[rows] * fx[:, None]
    moved = (proposed - current)[:, None]
    draws = response(proposed[:, None], gain, half) - response(current[:, None], gain, half)
    draws = draws - price * moved
    mean = draws.mean(axis=1)
    sd = draws.std(axis=1, ddof=1) if draws.shape[1] > 1 else np.zeros(mean.size)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    still = np.abs(proposed - current) <= 1e-9 * np.maximum(np.abs(current), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(sd > 0, normal_cdf(mean / sd), np.where(mean > 0, 1.0, 0.0))
    zero = np.zeros(mean.size)
    return MoveConfidence(
        prob_gain=np.where(still, np.nan, prob),
        effect=np.where(still, zero, mean),
        effect_low=np.where(still, zero, mean - z * sd),
        effect_high=np.where(still, zero, mean + z * sd),
    )
