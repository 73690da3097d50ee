"""Exploration: which curve the allocation optimises when curves are uncertain.

- "ucb" (default): an upper-confidence curve. Each unit's gain is raised by `strength`
  times the posterior relative sd of its expected results at typical spend (capped at 1),
  so a unit with thin or flat history gets the benefit of the doubt, and the bonus fades
  as days of varied spend accumulate. Deterministic.
- "thompson": one posterior draw per unit, chosen with a fixed seed: deterministic for a
  given seed, different across seeds.
- "none": the posterior point estimate.
- "cautious": the opposite of "ucb", for managers who prefer fewer surprises: each unit's
  gain is lowered to a low quantile of its expected results (`strength` posterior sds below
  the estimate, at most 90% down), so money goes where the evidence is firm.
- "voi": the point estimate is allocated, then a bounded share of the total (`max_share`)
  is moved where what a move would teach is worth more than it costs today (value of
  information over `horizon_days`, `optimizer/voi.py`); each such move is flagged.

Exploration only ever acts inside the guardrails (bounds, max change, locks, caps), and
expected results are always reported on the point-estimate curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimizer.curves import CurveSet

Method = Literal["none", "ucb", "thompson", "cautious", "voi"]


@dataclass(frozen=True)
class Exploration:
    method: Method = "ucb"
    strength: float = 0.5
    seed: int = 0
    max_share: float = 0.05  # "voi": the most money moved for exploration, share of the total
    horizon_days: float = 14.0  # "voi": days what a probe teaches is worth something


def exploring_curves(
    curves: CurveSet, rows: np.ndarray, exploration: Exploration
) -> tuple[np.ndarray, np.ndarray]:
    """Gain and half-spend (unit currency, no weekday factor) to optimise for `rows`."""
    gain = curves.gain[rows]
    half = curves.half_spend[rows]
    if exploration.method in ("none", "voi"):
        return gain, half
    if exploration.method == "ucb":
        bonus = exploration.strength * np.minimum(curves.level_sd[rows], 1.0)
        return gain * (1.0 + bonus), half
    if exploration.method == "cautious":
        cut = np.minimum(exploration.strength * curves.level_sd[rows], 0.9)
        return gain * (1.0 - cut), half
    if exploration.method == "thompson":
        rng = np.random.default_rng(exploration.seed)
        pick = rng.integers(0, curves.draws_gain.shape[1], size=rows.size)
        return curves.draws_gain[rows, pick], curves.draws_half_spend[rows, pick]
    raise ValueError(f"unknown exploration method {exploration.method!r}")
