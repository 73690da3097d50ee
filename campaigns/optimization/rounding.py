"""Round a solved plan to each currency's minor unit without breaking a limit.

The optimiser works in floats and in the reporting currency; a platform takes an amount in
the account's currency, to its minor unit (a yen, a cent). Rounding every unit half-up can
push the sum over the total or a network over its maximum by a few minor units per unit,
so the amounts are settled as a whole:

1. each unit gets the grid interval its own limits allow (min/max, max change, lock, and
   no move smaller than the minimum change), and starts at its optimum rounded down;
2. units rounded *up* by their interval give a step back where a maximum (total, network,
   account) is exceeded;
3. units rounded down get a step back where a minimum (network, account) is short;
4. what is left of the total goes, a step at a time, to the units that lost most in
   rounding, as long as every maximum holds.

Sums are exact: Decimal amounts times the Decimal FX rates the plan was built with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from optimizer import AllocationProblem, InfeasibleError, ProposedAllocation

# A float bound within this many minor units of a grid point is taken to be on it.
_GRID_TOL = 1e-9


@dataclass
class _Grid:
    """Per unit, in its own currency: the amount being settled, the lowest and highest
    amount its own limits allow, its minor unit and what one minor unit is worth in the
    reporting currency. The steps below move `amount` in place."""

    amount: list[Decimal]
    lo: list[Decimal]
    hi: list[Decimal]
    steps: Sequence[Decimal]
    value: list[Decimal]


def settle_budgets(
    allocation: ProposedAllocation,
    current: Sequence[Decimal],
    rates: Sequence[Decimal],
    steps: Sequence[Decimal],
    *,
    total: Decimal,
    min_change: float = 0.0,
) -> list[Decimal]:
    """Each unit's budget in its own currency, on its currency's grid.

    `current`, `rates` (unit currency -> reporting) and `steps` (the minor unit) are per
    unit in the allocation's order; `total` is the hard daily total in the reporting currency.
    """
    p = allocation.problem
    assert p is not None, "plans from optimize_budgets carry their problem"
    rows = allocation.allocations
    fx = rows["fx"].to_numpy(dtype=float)
    optimum = rows["proposed_budget"].to_numpy(dtype=float)
    grid = _start_grid(p, current, rates, steps, fx, optimum, min_change)
    sums = _Sums(p.unit_account, p.account_network, p.account_min, p.account_max,
                 p.network_min, p.network_max, total)
    sums.start(grid.amount, rates)
    # How far rounding moved each unit from its optimum, in the reporting currency: the
    # units rounded up most give back first, those rounded down most take first.
    excess = (np.array([float(a) for a in grid.amount]) - optimum) * fx
    up_first = [int(i) for i in np.argsort(-excess, kind="stable")]
    down_first = up_first[::-1]
    _give_back_over_maximum(grid, sums, up_first)
    _fill_short_minimum(grid, sums, up_first, down_first)
    _spend_what_is_left(grid, sums, optimum, down_first)
    _check_every_maximum(sums, len(current), allocation.currency)
    return grid.amount


def _start_grid(
    p: AllocationProblem, current: Sequence[Decimal], rates: Sequence[Decimal],
    steps: Sequence[Decimal], fx: np.ndarray, optimum: np.ndarray, min_change: float,
) -> _Grid:
    """1. each unit's interval on its grid and its optimum rounded down into it; a held
    unit (lock, negligible move) keeps its exact current budget."""
    n = len(current)
    value = [steps[i] * rates[i] for i in range(n)]  # one step, in the reporting currency
    low_k, high_k, start_k, held = _intervals(
        np.array([float(c) for c in current]), np.array([float(s) for s in steps]),
        p.lower / fx, p.upper / fx, optimum, min_change,
    )
    lo: list[Decimal] = []
    hi: list[Decimal] = []
    amount: list[Decimal] = []
    for i in range(n):
        if held[i]:
            lo.append(current[i])
            hi.append(current[i])
            amount.append(current[i])
            continue
        lo.append(int(low_k[i]) * steps[i])
        hi.append(int(high_k[i]) * steps[i])
        amount.append(int(start_k[i]) * steps[i])
    return _Grid(amount, lo, hi, steps, value)


def _give_back_over_maximum(grid: _Grid, sums: _Sums, up_first: list[int]) -> None:
    """2. over a maximum: the units rounded up most give back first."""
    amount, lo, steps, value = grid.amount, grid.lo, grid.steps, grid.value
    for i in up_first:
        over = sums.over(i)
        if over > 0 and amount[i] > lo[i]:
            room = min(_count(amount[i] - lo[i], steps[i]), sums.room_down(i, value[i]))
            take = min(_ceil(over / value[i]), room)
            if take > 0:
                amount[i] -= take * steps[i]
                sums.add(i, -take * value[i])


def _fill_short_minimum(
    grid: _Grid, sums: _Sums, up_first: list[int], down_first: list[int]
) -> None:
    """3. under a minimum: the units rounded down most take first, from elsewhere if the
    total (or their network's maximum) has no room left."""
    amount, hi, steps, value = grid.amount, grid.hi, grid.steps, grid.value
    for i in down_first:
        short = sums.short(i)
        if short <= 0 or amount[i] >= hi[i]:
            continue
        want = min(_ceil(short / value[i]), _count(hi[i] - amount[i], steps[i]))
        if sums.room_up(i, value[i]) < want:
            _make_room(grid, sums, i, want, up_first)
        give = min(want, sums.room_up(i, value[i]))
        if give > 0:
            amount[i] += give * steps[i]
            sums.add(i, give * value[i])


def _make_room(grid: _Grid, sums: _Sums, i: int, want: int, up_first: list[int]) -> None:
    """Take steps from the units rounded up most (down to their own lowest amount, and only
    those `_Sums.may_donate` allows) until the maxima leave room for `want` steps of unit i."""
    amount, lo, steps, value = grid.amount, grid.lo, grid.steps, grid.value
    for j in up_first:
        if sums.room_up(i, value[i]) >= want:
            break
        if not sums.may_donate(j, i) or amount[j] <= lo[j]:
            continue
        free = want * value[i] - sums.slack_up(i)
        take = min(_ceil(free / value[j]), _count(amount[j] - lo[j], steps[j]),
                   sums.room_down(j, value[j]))
        if take > 0:
            amount[j] -= take * steps[j]
            sums.add(j, -take * value[j])


def _spend_what_is_left(
    grid: _Grid, sums: _Sums, optimum: np.ndarray, down_first: list[int]
) -> None:
    """4. what the total still allows, one step each, largest rounding loss first."""
    amount, hi, steps, value = grid.amount, grid.hi, grid.steps, grid.value
    for i in down_first:
        if float(amount[i]) + 1e-9 >= optimum[i]:
            continue
        if amount[i] + steps[i] <= hi[i] and sums.room_up(i, value[i]) >= 1:
            amount[i] += steps[i]
            sums.add(i, value[i])


def _check_every_maximum(sums: _Sums, n: int, currency: str) -> None:
    """Raise rather than return amounts that break a total or maximum."""
    worst = max((sums.over(i) for i in range(n)), default=Decimal(0))
    if worst > 0:
        # The limits meet in the continuous plan but leave no amount on the grid (e.g. a
        # total equal to the sum of minimums, within a cent): say so rather than break one.
        raise InfeasibleError(
            f"on whole minor units (cents, yen) the limits cannot all hold: the lowest "
            f"amounts the budgets allow exceed a total or maximum by {worst:.4f} "
            f"{currency}; loosen the total or the tightest cap slightly",
            ("total budget", "minor units"),
        )


def _intervals(
    current: np.ndarray, step: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    optimum: np.ndarray, min_change: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per unit, in minor units: the lowest and highest amount its own limits allow and the
    optimum rounded down into that range; and whether it is held (lock, negligible move),
    keeping its exact budget. A move is at least the minimum change (the solve has held
    every smaller move it could), and rounding must not shrink it below that."""
    held = (upper - lower <= 1e-12 * np.maximum(np.abs(upper), 1.0)) & (
        np.abs(lower - current) <= 1e-9 * np.maximum(current, 1.0))
    low = np.maximum(np.ceil(lower / step - _GRID_TOL), 0)
    high = np.maximum(np.floor(upper / step + _GRID_TOL), 0)
    empty = low > high  # no grid amount inside the bounds: the nearest one
    middle = np.floor((lower + upper) / 2 / step + _GRID_TOL)
    low, high = np.where(empty, middle, low), np.where(empty, middle, high)
    if min_change > 0:
        big = ~held & ~empty & (current > 0) & (np.abs(optimum - current) >= min_change * current)
        band_low = np.maximum(low, np.ceil(current * (1 + min_change) / step - _GRID_TOL))
        band_high = np.minimum(high, np.floor(current * (1 - min_change) / step + _GRID_TOL))
        up = big & (optimum > current) & (band_low <= high)
        down = big & (optimum < current) & (band_high >= low)
        low = np.where(up, band_low, low)
        high = np.where(down, band_high, high)
    start = np.clip(np.floor(optimum / step + _GRID_TOL), low, high)
    return low, high, start, held


def _count(amount: Decimal, step: Decimal) -> int:
    return int((amount / step).to_integral_value(ROUND_FLOOR))


def _ceil(amount: Decimal) -> int:
    return int(amount.to_integral_value(ROUND_CEILING))


def _limit(value: float) -> Decimal | None:
    return Decimal(repr(float(value))) if np.isfinite(value) else None


class _Sums:
    """Exact reporting-currency sums per account, network and in total, with their limits."""

    def __init__(self, unit_account: np.ndarray, account_network: np.ndarray,
                 account_min: np.ndarray, account_max: np.ndarray, network_min: np.ndarray,
                 network_max: np.ndarray, total: Decimal) -> None:
        self.account = [int(a) for a in unit_account]
        self.network = [int(account_network[a]) for a in self.account]
        self.a_min = [_limit(v) or Decimal(0) for v in account_min]
        self.a_max = [_limit(v) for v in account_max]
        self.n_min = [_limit(v) or Decimal(0) for v in network_min]
        self.n_max = [_limit(v) for v in network_max]
        self.limit = total
        self.a_sum = [Decimal(0)] * len(self.a_min)
        self.n_sum = [Decimal(0)] * len(self.n_min)
        self.total = Decimal(0)

    def start(self, amount: Sequence[Decimal], rates: Sequence[Decimal]) -> None:
        for i, (x, r) in enumerate(zip(amount, rates, strict=True)):
            self.add(i, x * r)

    def add(self, i: int, delta: Decimal) -> None:
        self.a_sum[self.account[i]] += delta
        self.n_sum[self.network[i]] += delta
        self.total += delta

    def over(self, i: int) -> Decimal:
        a, n = self.account[i], self.network[i]
        over = self.total - self.limit
        a_max, n_max = self.a_max[a], self.n_max[n]
        if a_max is not None:
            over = max(over, self.a_sum[a] - a_max)
        if n_max is not None:
            over = max(over, self.n_sum[n] - n_max)
        return over

    def short(self, i: int) -> Decimal:
        a, n = self.account[i], self.network[i]
        return max(self.a_min[a] - self.a_sum[a], self.n_min[n] - self.n_sum[n])

    def room_down(self, i: int, step: Decimal) -> int:
        a, n = self.account[i], self.network[i]
        slack = min(self.a_sum[a] - self.a_min[a], self.n_sum[n] - self.n_min[n])
        return max(_count(slack, step), 0)

    def slack_up(self, i: int) -> Decimal:
        """How much unit i may still add before a maximum (its account's, network's or the
        total) is reached."""
        a, n = self.account[i], self.network[i]
        slack = self.limit - self.total
        a_max, n_max = self.a_max[a], self.n_max[n]
        if a_max is not None:
            slack = min(slack, a_max - self.a_sum[a])
        if n_max is not None:
            slack = min(slack, n_max - self.n_sum[n])
        return slack

    def room_up(self, i: int, step: Decimal) -> int:
        return max(_count(self.slack_up(i), step), 0)

    def may_donate(self, j: int, i: int) -> bool:
        """Whether a step taken from unit j makes room for unit i without taking from a
        minimum unit i is filling: j is outside i's short groups and inside every group
        whose maximum holds i back."""
        if j == i or self.account[j] == self.account[i]:
            return False
        n = self.network[i]
        same_network = self.network[j] == n
        if self.n_min[n] > self.n_sum[n] and same_network:
            return False
        n_max = self.n_max[n]
        network_full = n_max is not None and n_max - self.n_sum[n] < self.limit - self.total
        return same_network or not network_full
