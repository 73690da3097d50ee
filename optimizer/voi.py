"""Exploration that pays for itself: move a bounded share of the total where what a move
would teach is worth more than what it costs now (the "voi" exploration method).

For each unit, over the fit's posterior draws d of its curve f_d and at the money's price p
in its account (the allocation's marginal return there):

    loss_d = max_s [f_d(s) - p s] - [f_d(plan) - p plan]     (s within the unit's bounds)

is what the plan gives up if draw d is the truth; its mean is the expected value of perfect
information about the unit's curve, per day. A probe that moves the budget by a share x of
it is taken to resolve a share min(x, 1) of that uncertainty (varied spend is what pins a
curve's slope), and the knowledge is worth it for `horizon_days` days. The probe goes the
way the draws' own best budgets point, as far as the unit's bounds let it, and costs

    cost = [f(plan) - p plan] - [f(plan + delta) - p (plan + delta)]

on the mean curve today. A probe is kept when value - cost > 0. Increases and decreases are
paired within each account (the larger side scaled down to the smaller), so every account's,
network's and the total's spend is unchanged; each unit stays inside its bounds (caps, max
change, locks); and the money moved (increases plus decreases) is at most `max_share` of the
total. Pure numpy, deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.curves import response, spend_at_marginal


@dataclass(frozen=True)
class ProbeInput:
    """Per unit, in the reporting currency: the plan and its bounds, the mean curve, the
    posterior draws (units x draws), the price of money at the unit, its account."""

    plan: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    gain: np.ndarray
    half: np.ndarray
    draws_gain: np.ndarray
    draws_half: np.ndarray
    price: np.ndarray
    account: np.ndarray
    total_budget: float
    min_change: float = 0.0


@dataclass(frozen=True)
class Probes:
    spend: np.ndarray  # the plan with the probes
    raised: np.ndarray  # bool per unit: the probe spends more than the plan
    explored: np.ndarray  # bool per unit
    value: np.ndarray  # the information's worth (objective units), 0 where not explored
    cost: np.ndarray  # what the probe costs today on the mean curve


def _net(x: ProbeInput, spend: np.ndarray) -> np.ndarray:
    return response(spend, x.gain, x.half) - x.price * spend


def expected_regret(x: ProbeInput) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the mean loss over draws of keeping the plan (see the module docstring),
    and the mean of the draws' own best budgets within the bounds."""
    price = x.price[:, None]
    best = spend_at_marginal(np.maximum(price, 1e-300), x.draws_gain, x.draws_half)
    best = np.clip(best, x.lower[:, None], x.upper[:, None])
    plan = x.plan[:, None]
    loss = (response(best, x.draws_gain, x.draws_half) - price * best) - (
        response(plan, x.draws_gain, x.draws_half) - price * plan)
    return np.maximum(loss, 0.0).mean(axis=1), best.mean(axis=1)


def plan_probes(x: ProbeInput, *, max_share: float, horizon_days: float) -> Probes:
    """The probes worth making; see the module docstring."""
    n = x.plan.size
    none = Probes(x.plan.copy(), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool),
                  np.zeros(n), np.zeros(n))
    budget = max_share * x.total_budget
    if n == 0 or budget <= 0 or x.draws_gain.shape[1] < 2:
        return none
    regret, target = expected_regret(x)
    up = target > x.plan
    room = np.where(up, x.upper - x.plan, x.plan - x.lower)
    room = np.where(np.isfinite(room), np.maximum(room, 0.0), 0.0)
    delta = np.where(up, room, -room)
    value, cost = _worth(x, delta, regret, horizon_days)
    keep = (value - cost > 0) & (room > max(x.min_change, 1e-9) * np.maximum(x.plan, 1e-9))
    delta = np.where(keep, delta, 0.0)
    delta = _paired_in_accounts(delta, x.account)
    moved = float(np.abs(delta).sum())
    if moved > budget:  # scaling both sides keeps each account balanced
        delta = delta * (budget / moved)
    explored = np.abs(delta) > 1e-9 * np.maximum(x.plan, 1.0)
    delta = np.where(explored, delta, 0.0)
    value, cost = _worth(x, delta, regret, horizon_days)
    spend = np.clip(x.plan + delta, x.lower, x.upper)
    return Probes(spend, delta > 0, explored, np.where(explored, value, 0.0),
                  np.where(explored, cost, 0.0))


def _worth(x: ProbeInput, delta: np.ndarray, regret: np.ndarray,
           horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(x.plan > 0, np.abs(delta) / x.plan, np.where(delta != 0, 1.0, 0.0))
    value = horizon_days * regret * np.minimum(share, 1.0)
    cost = _net(x, x.plan) - _net(x, x.plan + delta)
    return value, cost


def _paired_in_accounts(delta: np.ndarray, account: np.ndarray) -> np.ndarray:
    """Scale each account's larger side (increases or decreases) down to its smaller, so
    the account's spend does not change; an account with one side only explores nothing."""
    n_accounts = int(account.max()) + 1 if account.size else 0
    ups = np.bincount(account, np.maximum(delta, 0.0), n_accounts)
    downs = np.bincount(account, np.maximum(-delta, 0.0), n_accounts)
    matched = np.minimum(ups, downs)
    with np.errstate(divide="ignore", invalid="ignore"):
        up_scale = np.where(ups > 0, matched / ups, 0.0)
        down_scale = np.where(downs > 0, matched / downs, 0.0)
    return np.where(delta > 0, delta * up_scale[account], delta * down_scale[account])
