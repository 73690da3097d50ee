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
paired (the larger side scaled down to the smaller) within each account, then within each
network as far as the accounts' limits allow, then across networks as far as theirs allow,
so the total is as planned and every group stays within its limits; each unit stays inside
its bounds (caps, max change, locks); and the money moved (increases plus decreases) is at
most `max_share` of the total. Pure numpy, deterministic.
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
    # Group limits (0 / inf when unset) and which network each account is in.
    account_network: np.ndarray | None = None
    account_min: np.ndarray | None = None
    account_max: np.ndarray | None = None
    network_min: np.ndarray | None = None
    network_max: np.ndarray | None = None


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
    room_up = _room(x.upper - x.plan)
    room_down = _room(x.plan - x.lower)
    up = target > x.plan
    room = np.where(up, room_up, room_down)
    delta = np.where(up, room, -room)
    value, cost = _worth(x, delta, regret, horizon_days)
    keep = (value - cost > 0) & (room > max(x.min_change, 1e-9) * np.maximum(x.plan, 1e-9))
    delta = np.where(keep, delta, 0.0)
    delta = _balanced(x, delta + _partners(x, delta, keep, room_up, room_down))
    moved = float(np.abs(delta).sum())
    if moved > budget:  # scaling both sides keeps each account balanced
        delta = delta * (budget / moved)
    explored = np.abs(delta) > 1e-9 * np.maximum(x.plan, 1.0)
    delta = np.where(explored, delta, 0.0)
    value, cost = _worth(x, delta, regret, horizon_days)
    if (value - cost)[explored].sum() <= 0:  # the partners cost more than the probes teach
        return none
    spend = np.clip(x.plan + delta, x.lower, x.upper)
    return Probes(spend, delta > 0, explored, np.where(explored, value, 0.0),
                  np.where(explored, cost, 0.0))


def _room(room: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(room), np.maximum(room, 0.0), 0.0)


def _partners(x: ProbeInput, delta: np.ndarray, probing: np.ndarray, room_up: np.ndarray,
              room_down: np.ndarray) -> np.ndarray:
    """Counter-moves for the probes' imbalance (probes that all want less money need units
    that take it): the units cheapest to move on the mean curve, per unit of money, until
    the imbalance is covered. At the plan every free unit's marginal return is the price, so
    a small counter-move costs little; it is flagged as exploration too."""
    short = float(delta.sum())  # > 0: the probes want more money than they free
    if abs(short) <= 1e-12 or not probing.any():
        return np.zeros_like(delta)
    room = np.where(probing, 0.0, room_down if short > 0 else room_up)
    sign = -1.0 if short > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        per_money = (_net(x, x.plan) - _net(x, x.plan + sign * room)) / room
    order = np.argsort(np.where(room > 0, per_money, np.inf), kind="stable")
    order = order[room[order] > 0]
    taken = np.minimum(room[order], np.maximum(abs(short) - (np.cumsum(room[order])
                                                             - room[order]), 0.0))
    out = np.zeros_like(delta)
    out[order] = sign * taken
    return out


def _worth(x: ProbeInput, delta: np.ndarray, regret: np.ndarray,
           horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(x.plan > 0, np.abs(delta) / x.plan, np.where(delta != 0, 1.0, 0.0))
    value = horizon_days * regret * np.minimum(share, 1.0)
    cost = _net(x, x.plan) - _net(x, x.plan + delta)
    return value, cost


def _paired(delta: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Scale each group's larger side (increases or decreases) down to its smaller, so the
    group's spend does not change; a group with one side only keeps nothing."""
    n_groups = int(group.max()) + 1 if group.size else 0
    ups = np.bincount(group, np.maximum(delta, 0.0), n_groups)
    downs = np.bincount(group, np.maximum(-delta, 0.0), n_groups)
    matched = np.minimum(ups, downs)
    with np.errstate(divide="ignore", invalid="ignore"):
        up_scale = np.where(ups > 0, matched / ups, 0.0)
        down_scale = np.where(downs > 0, matched / downs, 0.0)
    return np.where(delta > 0, delta * up_scale[group], delta * down_scale[group])


def _within(delta: np.ndarray, group: np.ndarray, spent: np.ndarray, low: np.ndarray,
            high: np.ndarray) -> np.ndarray:
    """Scale each group's (one-sided) moves so that its spend stays within [low, high]."""
    net = np.bincount(group, delta, spent.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(net > 0, high - spent, spent - low)
        scale = np.where(net != 0, np.clip(room / np.abs(net), 0.0, 1.0), 1.0)
    return delta * np.nan_to_num(scale, nan=0.0)[group]


def _balanced(x: ProbeInput, delta: np.ndarray) -> np.ndarray:
    """Moves that leave the total as planned and every group within its limits: paired
    within each account first, what is left within each network (as far as the accounts'
    limits allow), then across networks (as far as the networks' limits allow)."""
    in_account = _paired(delta, x.account)
    if x.account_network is None:
        return in_account
    n_acc, n_net = x.account_network.size, int(x.account_network.max()) + 1
    acc_min = np.zeros(n_acc) if x.account_min is None else x.account_min
    acc_max = np.full(n_acc, np.inf) if x.account_max is None else x.account_max
    net_min = np.zeros(n_net) if x.network_min is None else x.network_min
    net_max = np.full(n_net, np.inf) if x.network_max is None else x.network_max
    network = x.account_network[x.account]
    acc_spent = np.bincount(x.account, x.plan, n_acc)
    net_spent = np.bincount(network, x.plan, n_net)
    rest = _within(delta - in_account, x.account, acc_spent, acc_min, acc_max)
    in_network = _paired(rest, network)
    rest = _within(rest - in_network, network, net_spent, net_min, net_max)
    return in_account + in_network + _paired(rest, np.zeros(rest.size, dtype=np.int64))
