"""Exact allocation of a budget across units with nested caps.

Problem (all money in the reporting currency):

    maximise   sum_i f_i(s_i) - floor * sum_i s_i
    subject to lower_i <= s_i <= upper_i                    (unit bounds, max change, locks)
               account_min_a <= sum_{i in a} s_i <= account_max_a
               network_min_n <= sum_{a in n} spend_a <= network_max_n
               sum_i s_i <= total_budget

with f_i(s) = gain_i s / (s + half_i) concave. Accounts nest in networks, networks in the
total: a laminar family, so the KKT conditions say every unit spends where its marginal
return equals a price, and that price is the total's price plus a surcharge (cap) or
discount (floor) per binding network and account (Patriksson 2008; Vidal, Jaillet &
Maculan 2016 for the nested case).

In t = 1/sqrt(price) a unit's best spend is clip(sqrt(gain*half) * t - half, lower, upper):
piecewise linear and nondecreasing in t, and so is every group's clipped total. So the
solve is one root-find on the total, then one per capped network, then one per capped
account, each a safeguarded Newton iteration over all groups at once that ends exactly on
the right linear piece. The duality gap of the resulting prices is reported as the
certificate of optimality.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from optimizer.curves import response, spend_at_marginal
from optimizer.feasibility import check_feasible

FloatArray = np.ndarray
IntArray = np.ndarray
_REL_TOL = 1e-12
_MAX_ITER = 200
# Folding settled units costs about one evaluation, so do it only as the bracket narrows.
_PRUNE_AT = frozenset({1, 3, 6, 10})


@dataclass(frozen=True)
class AllocationProblem:
    """One allocation instance; see the module docstring for the model.

    Group limits use 0 / inf when unset. Names are only used in error messages.
    """

    gain: FloatArray
    half_spend: FloatArray
    lower: FloatArray
    upper: FloatArray
    unit_account: IntArray
    account_network: IntArray
    account_min: FloatArray
    account_max: FloatArray
    network_min: FloatArray
    network_max: FloatArray
    total_budget: float
    price_floor: float = 0.0
    unit_names: tuple[str, ...] = field(default=())
    account_names: tuple[str, ...] = field(default=())
    network_names: tuple[str, ...] = field(default=())
    currency: str = ""
    # `Limits.targets` as held in the scopes' min/max above: (scope, key) -> (min, max)
    targets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return int(self.gain.size)


@dataclass(frozen=True)
class AllocationSolution:
    """Optimal spend per unit plus the prices (marginal returns) that certify it.

    `unit_price` is the marginal return each unit is driven to (its account's price);
    `price` is the total budget's price, at least `price_floor`. `duality_gap` is the dual
    bound minus the objective, >= 0 and ~0 at the optimum.
    """

    spend: FloatArray
    unit_price: FloatArray
    account_price: FloatArray
    network_price: FloatArray
    price: float
    objective: float
    dual_bound: float
    duality_gap: float
    relative_gap: float
    max_violation: float
    total_spend: float
    budget_binding: bool


class _Tree:
    """The unit -> account -> network structure and the clipped totals at each level.

    Holds the *live* units only: while a root-find narrows its bracket, units whose spend
    is constant over the whole bracket (at their lower or upper bound) are folded into a
    per-account offset, so late iterations touch few units.
    """

    _ARRAYS = ("slope", "half", "lower", "upper", "account", "t_low", "t_high", "group")

    def __init__(self, p: AllocationProblem) -> None:
        self.p = p
        self.n_accounts = p.account_min.size
        self.n_networks = p.network_min.size
        self.slope = np.sqrt(p.gain * p.half_spend)
        self.half = p.half_spend
        self.lower = p.lower
        self.upper = p.upper
        self.account = p.unit_account
        with np.errstate(divide="ignore", invalid="ignore"):
            self.t_low = (p.lower + p.half_spend) / self.slope
            self.t_high = (p.upper + p.half_spend) / self.slope
        self.group = np.zeros(self.account.size, dtype=np.int64)
        self.offset = np.zeros(self.n_accounts)
        self.level = "total"
        self._full = {name: getattr(self, name) for name in self._ARRAYS}

    def fresh(self, level: str) -> _Tree:
        """A tree over all units again, grouped for a root-find at `level`."""
        tree = copy.copy(self)
        for name, value in self._full.items():
            setattr(tree, name, value)
        tree.offset = np.zeros(self.n_accounts)
        tree.level = level
        if level == "accounts":
            tree.group = tree.account
        elif level == "networks":
            tree.group = self.p.account_network[tree.account]
        return tree

    def prune(self, low: FloatArray, high: FloatArray) -> None:
        """Fold in units that are at a bound for every t in their group's [low, high]."""
        if low.size == 1:
            at_high = self.t_high <= low[0]
            fixed = at_high | (self.t_low >= high[0])
        else:
            at_high = self.t_high <= low[self.group]
            fixed = at_high | (self.t_low >= high[self.group])
        n_fixed = int(np.count_nonzero(fixed))
        if n_fixed < 0.25 * fixed.size or n_fixed == 0:
            return  # compaction costs about one evaluation; only worth it when it shrinks
        spend = np.where(at_high, self.upper, self.lower)
        self.offset = self.offset + np.bincount(self.account[fixed], spend[fixed], self.n_accounts)
        keep = ~fixed
        for name in self._ARRAYS:
            setattr(self, name, getattr(self, name)[keep])

    def units(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        raw = self.slope * t
        raw -= self.half
        spend = np.maximum(raw, self.lower)
        np.minimum(spend, self.upper, out=spend)
        return spend, np.where(spend == raw, self.slope, 0.0)

    def accounts(self, t: FloatArray, clip: bool) -> tuple[FloatArray, FloatArray]:
        spend, slope = self.units(t)
        raw = np.bincount(self.account, spend, self.n_accounts) + self.offset
        d_raw = np.bincount(self.account, slope, self.n_accounts)
        if not clip:
            return raw, d_raw
        return _clip(raw, d_raw, self.p.account_min, self.p.account_max)

    def networks(self, t: FloatArray, clip: bool) -> tuple[FloatArray, FloatArray]:
        spend, slope = self.accounts(t, clip=True)
        raw = np.bincount(self.p.account_network, spend, self.n_networks)
        d_raw = np.bincount(self.p.account_network, slope, self.n_networks)
        if not clip:
            return raw, d_raw
        return _clip(raw, d_raw, self.p.network_min, self.p.network_max)

    def total(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        spend, slope = self.networks(t[0], clip=True)
        return np.array([spend.sum()]), np.array([slope.sum()])


def _clip(
    raw: FloatArray, d_raw: FloatArray, low: FloatArray, high: FloatArray
) -> tuple[FloatArray, FloatArray]:
    inside = (raw > low) & (raw < high)
    return np.minimum(np.maximum(raw, low), high), np.where(inside, d_raw, 0.0)


def solve_allocation(problem: AllocationProblem) -> AllocationSolution:
    """Solve exactly; raises InfeasibleError naming the conflicting limits."""
    check_feasible(problem)
    tree = _Tree(problem)
    t_full = float(np.max(np.where(np.isfinite(tree.t_high), tree.t_high, 0.0), initial=0.0))
    t_root = _solve_total(tree.fresh("total"), t_full)
    t_net = _solve_networks(tree, t_root, t_full)
    t_acc = _solve_accounts(tree, t_net, t_full)
    spend, _ = tree.units(t_acc[problem.unit_account])
    return _certify(problem, spend, t_root, t_net, t_acc)


def _solve_total(tree: _Tree, t_full: float) -> float:
    p = tree.p
    budget = p.total_budget
    cap = np.inf
    if p.price_floor > 0:
        cap = 1.0 / np.sqrt(p.price_floor)
        if tree.total(np.array([cap]))[0][0] <= budget:
            return cap  # the target binds before the budget does: spend less
    if tree.total(np.array([t_full]))[0][0] <= budget:
        return np.inf  # every unit at its limit and money left: spend less
    high = min(cap, t_full)
    guess = (budget + p.half_spend.sum()) / tree.slope.sum()
    start = np.array([min(max(guess, 0.0), high)])

    def prune(low: FloatArray, high: FloatArray) -> None:
        tree.prune(low, high)

    t = _newton(tree.total, np.array([budget]), np.zeros(1), np.array([high]), start, prune)
    return float(t[0])


def _solve_networks(tree: _Tree, t_root: float, t_full: float) -> FloatArray:
    p = tree.p
    t_start = np.full(tree.n_networks, min(t_root, t_full))
    raw, _ = tree.networks(np.asarray(t_root), clip=False)
    target = np.minimum(np.maximum(raw, p.network_min), p.network_max)
    return _solve_level(tree.fresh("networks"), raw, target, t_root, t_start, t_full)


def _solve_accounts(tree: _Tree, t_net: FloatArray, t_full: float) -> FloatArray:
    p = tree.p
    t_parent = t_net[p.account_network]
    raw, _ = tree.accounts(t_net[p.account_network[p.unit_account]], clip=False)
    target = np.minimum(np.maximum(raw, p.account_min), p.account_max)
    t_start = np.minimum(t_parent, t_full)
    return _solve_level(tree.fresh("accounts"), raw, target, t_parent, t_start, t_full)


def _solve_level(
    tree: _Tree,
    raw: FloatArray,
    target: FloatArray,
    t_parent: float | FloatArray,
    t_start: FloatArray,
    t_full: float,
) -> FloatArray:
    """Find each capped group's own t; groups inside their limits keep the parent's."""
    t = np.broadcast_to(np.asarray(t_parent, dtype=float), raw.shape).copy()
    capped = raw > target
    raised = raw < target
    active = capped | raised
    if not active.any():
        return t
    low = np.where(raised, np.minimum(t_start, t_full), 0.0)
    high = np.where(capped, t_start, t_full)
    # Groups already settled are dropped at once: their units are irrelevant here.
    tree.prune(np.where(active, low, np.inf), np.where(active, high, np.inf))

    def evaluate(t_group: FloatArray) -> tuple[FloatArray, FloatArray]:
        t_units = t_group[tree.group]
        if tree.level == "networks":
            return tree.networks(t_units, clip=False)
        return tree.accounts(t_units, clip=False)

    start = np.where(active, t_start, t_full)
    solved = _newton(evaluate, target, low, high, start, tree.prune, active)
    return np.where(active, solved, t)


def _newton(
    evaluate: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
    target: FloatArray,
    low: FloatArray,
    high: FloatArray,
    t: FloatArray,
    on_bracket: Callable[[FloatArray, FloatArray], None],
    active: FloatArray | None = None,
) -> FloatArray:
    """Safeguarded Newton on nondecreasing piecewise-linear functions, one per group.

    Keeps a bracket [low, high] with value(low) <= target <= value(high) and falls back to
    bisection when a Newton step leaves it; on the final linear piece Newton is exact.
    """
    active = np.ones(target.shape, dtype=bool) if active is None else active.copy()
    low, high, t = low.astype(float), high.astype(float), t.astype(float)
    tol = _REL_TOL * np.maximum(np.abs(target), 1.0)
    for iteration in range(_MAX_ITER):
        value, slope = evaluate(t)
        err = value - target
        active &= np.abs(err) > tol
        if not active.any():
            break
        low = np.where(active & (err < 0), t, low)
        high = np.where(active & (err > 0), t, high)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t - err / slope
            middle = np.where(low > 0, np.sqrt(low * high), 0.5 * (low + high))
        ok = np.isfinite(step) & (step > low) & (step < high)
        t = np.where(active, np.where(ok, step, middle), t)
        active &= high - low > 1e-15 * high
        if iteration in _PRUNE_AT:
            # Settled groups get an empty bracket so their units are folded in too.
            on_bracket(np.where(active, low, np.inf), np.where(active, high, np.inf))
    return t


def _certify(
    p: AllocationProblem,
    spend: FloatArray,
    t_root: float,
    t_net: FloatArray,
    t_acc: FloatArray,
) -> AllocationSolution:
    price = _price(np.array([t_root]))[0]
    net_price = _price(t_net)
    acc_price = _price(t_acc)
    unit_price = acc_price[p.unit_account]
    net_spend = np.bincount(p.unit_account, spend, p.account_min.size)
    acc_spend = net_spend
    net_spend = np.bincount(p.account_network, acc_spend, p.network_min.size)
    total = float(spend.sum())
    objective = float(response(spend, p.gain, p.half_spend).sum() - p.price_floor * total)
    # Dual bound from the prices alone: each unit's own best response to its price.
    best = np.clip(spend_at_marginal(unit_price, p.gain, p.half_spend), p.lower, p.upper)
    dual = float((response(best, p.gain, p.half_spend) - unit_price * best).sum())
    dual += max(price - p.price_floor, 0.0) * p.total_budget
    dual += _group_terms(net_price - price, p.network_min, p.network_max)
    dual += _group_terms(acc_price - net_price[p.account_network], p.account_min, p.account_max)
    gap = max(dual - objective, 0.0)
    violation = max(
        _excess(total, 0.0, p.total_budget),
        _excess(net_spend, p.network_min, p.network_max),
        _excess(acc_spend, p.account_min, p.account_max),
        _excess(spend, p.lower, p.upper),
    )
    return AllocationSolution(
        spend=spend,
        unit_price=unit_price,
        account_price=acc_price,
        network_price=net_price,
        price=float(price),
        objective=objective,
        dual_bound=dual,
        duality_gap=gap,
        relative_gap=gap / max(abs(objective), 1e-12),
        max_violation=violation,
        total_spend=total,
        budget_binding=bool(np.isfinite(t_root) and price > p.price_floor),
    )


def _price(t: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(t), 1.0 / np.square(t), 0.0)


def _group_terms(surcharge: FloatArray, low: FloatArray, high: FloatArray) -> float:
    up = np.where(surcharge > 0, surcharge * np.where(np.isfinite(high), high, 0.0), 0.0)
    down = np.where(surcharge < 0, surcharge * low, 0.0)
    return float(up.sum() + down.sum())


def _excess(value: FloatArray | float, low: FloatArray | float, high: FloatArray | float) -> float:
    over = np.maximum(np.asarray(value) - high, 0.0)
    under = np.maximum(np.asarray(low) - np.asarray(value), 0.0)
    scale = np.maximum(np.abs(np.asarray(value)), 1.0)
    return float(np.max((over + under) / scale, initial=0.0))
