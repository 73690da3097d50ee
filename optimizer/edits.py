"""Edits worth making: a move must pay for the edit it costs.

Every budget edit costs something the curves do not see: Meta restarts an ad set's learning
phase on a significant edit, and platforms limit edits per hour. So a move is made only when
its expected gain, net of `cost` (reporting currency per edit), is positive and it is likely
to help (its probability of gaining, from the posterior, is at least `min_prob_gain`).

The expected gain of a move is its `effect` (see `confidence.py`): what the move adds over
the same money spent at the portfolio's margin, for one day at the new budget, as the
posterior's mean. Revenue is money already; conversions are valued at the portfolio's
marginal CPA (what the edit cost's money would buy at the margin). Moves that fall short
are held at their current budget and the rest re-solved (`negligible.py`), so their money
goes to the remaining moves: fewer, larger moves rather than many small ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.feasibility import format_money

# Why a unit was held (the first row of the hold figures).
NEGLIGIBLE, NOT_WORTH_COST, UNLIKELY = 1.0, 2.0, 3.0


@dataclass(frozen=True)
class EditPolicy:
    """`cost`: what an edit costs, in the reporting currency (0: edits are free);
    `min_prob_gain`: the least probability of gaining a move must have (0: any)."""

    cost: float = 0.0
    min_prob_gain: float = 0.0

    def __post_init__(self) -> None:
        if not self.cost >= 0:
            raise ValueError(f"the edit cost must be >= 0, got {self.cost}")
        if not 0 <= self.min_prob_gain < 1:
            raise ValueError(f"min_prob_gain must be in [0, 1), got {self.min_prob_gain}")

    @property
    def active(self) -> bool:
        return self.cost > 0 or self.min_prob_gain > 0


def money_gain(effect: np.ndarray, price: float, objective: str) -> np.ndarray:
    """A move's expected gain in the reporting currency: revenue (or value) as it is,
    conversions at the portfolio's marginal CPA (1 / `price`). With no price (money buys
    nothing at the margin) any gain is worth an edit and any loss is not."""
    if objective != "conversions":  # revenue, and the value objective's worth, are money
        return effect
    if price <= 0:
        return np.where(effect > 0, np.inf, -np.inf)
    return effect / price


def unworthy(
    moving: np.ndarray, money: np.ndarray, prob: np.ndarray, policy: EditPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Of the `moving` units: those whose gain does not pay for the edit, and those not
    likely enough to gain (named for that first: it is the firmer reason)."""
    unlikely = moving & (np.nan_to_num(prob, nan=0.0) < policy.min_prob_gain)
    short = moving & ~unlikely & ~(money - policy.cost > 0)
    return short, unlikely


def held_reason(
    code: float, ratio: float, money: float, prob: float, policy: EditPolicy, *,
    min_change: float, currency: str,
) -> str:
    """The explanation of a unit held because its move was not worth an edit."""
    if code == NOT_WORTH_COST and not money > 0:
        expected = "" if not np.isfinite(money) else (
            f" (an expected {format_money(money, currency)} a day)")
        return f"kept: not worth an edit: a move of {ratio:+.1%} would not gain{expected}"
    if code == NOT_WORTH_COST:
        gain = format_money(money, currency)
        return (f"kept: not worth its edit cost: a move of {ratio:+.1%} would gain an expected "
                f"{gain} a day, not more than the {format_money(policy.cost, currency)} an "
                "edit costs")
    if code == UNLIKELY:
        return (f"kept: a move of {ratio:+.1%} is only {prob:.0%} likely to help (at least "
                f"{policy.min_prob_gain:.0%} wanted)")
    return f"kept: a move of {ratio:+.1%} is below the {min_change:.0%} worth an edit"
