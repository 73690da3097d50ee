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

import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from optimizer import BudgetPlan

# A float bound within this many minor units of a grid point is taken to be on it.
_GRID_TOL = 1e-9


def settle_budgets(
    plan: BudgetPlan,
    current: Sequence[Decimal],
    rates: Sequence[Decimal],
    steps: Sequence[Decimal],
    *,
    total: Decimal,
    min_change: float = 0.0,
) -> list[Decimal]:
    """Each unit's budget in its own currency, on its currency's grid.

    `current`, `rates` (unit currency -> reporting) and `steps` (the minor unit) are per
    unit in the plan's order; `total` is the hard daily total in the reporting currency.
    """
    p = plan.problem
    assert p is not None, "plans from optimize_budgets carry their problem"
    rows = plan.allocations
    fx = rows["fx"].to_numpy(dtype=float)
    optimum = rows["proposed_budget"].to_numpy(dtype=float)
    lower, upper = p.lower / fx, p.upper / fx
    n = len(current)
    value = [steps[i] * rates[i] for i in range(n)]  # one step, in the reporting currency
    lo: list[Decimal] = []
    hi: list[Decimal] = []
    amount: list[Decimal] = []
    for i in range(n):
        low, high = _interval(current[i], steps[i], lower[i], upper[i], optimum[i], min_change)
        lo.append(low)
        hi.append(high)
        start = _grid(optimum[i], steps[i], ROUND_FLOOR) if low < high else low
        amount.append(min(max(start, low), high))
    sums = _Sums(p.unit_account, p.account_network, p.account_min, p.account_max,
                 p.network_min, p.network_max, total)
    sums.start(amount, rates)
    excess = [float(amount[i]) - optimum[i] for i in range(n)]
    # 2. over a maximum: the units rounded up most give back first
    for i in sorted(range(n), key=lambda j: -excess[j] * fx[j]):
        over = sums.over(i)
        if over > 0 and amount[i] > lo[i]:
            room = min(_count(amount[i] - lo[i], steps[i]), sums.room_down(i, value[i]))
            take = min(_ceil(over / value[i]), room)
            if take > 0:
                amount[i] -= take * steps[i]
                sums.add(i, -take * value[i])
    # 3. under a minimum: the units rounded down most take first, from elsewhere if the
    # total (or their network's maximum) has no room left
    donors = sorted(range(n), key=lambda j: -excess[j] * fx[j])
    for i in sorted(range(n), key=lambda j: excess[j] * fx[j]):
        short = sums.short(i)
        if short <= 0 or amount[i] >= hi[i]:
            continue
        want = min(_ceil(short / value[i]), _count(hi[i] - amount[i], steps[i]))
        if sums.room_up(i, value[i]) < want:
            for j in donors:
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
        give = min(want, sums.room_up(i, value[i]))
        if give > 0:
            amount[i] += give * steps[i]
            sums.add(i, give * value[i])
    # 4. what the total still allows, one step each, largest rounding loss first
    for i in sorted(range(n), key=lambda j: excess[j] * fx[j]):
        if float(amount[i]) + 1e-9 >= optimum[i]:
            continue
        if amount[i] + steps[i] <= hi[i] and sums.room_up(i, value[i]) >= 1:
            amount[i] += steps[i]
            sums.add(i, value[i])
    return amount


def _interval(
    current: Decimal, step: Decimal, lower: float, upper: float, optimum: float, min_change: float
) -> tuple[Decimal, Decimal]:
    """The grid amounts this unit may take: inside its bounds and, when it moves, by at
    least the minimum change (the solve has already held every move it could). A held unit
    (lock, negligible move) keeps its exact budget."""
    now = float(current)
    if upper - lower <= 1e-12 * max(abs(upper), 1.0) and abs(lower - now) <= 1e-9 * max(now, 1.0):
        return current, current
    low, high = _grid(lower, step, ROUND_CEILING), _grid(upper, step, ROUND_FLOOR)
    if low > high:  # no grid amount inside the bounds: the nearest one
        middle = _grid((lower + upper) / 2, step, ROUND_FLOOR)
        return middle, middle
    if now <= 0 or min_change <= 0 or abs(optimum - now) < min_change * now:
        return low, high  # no move, or a small one a limit needs: rounding must not widen it
    # A move is at least the minimum change; one the grid would shrink below it is not made.
    if optimum > now:
        band = max(low, _grid(now * (1 + min_change), step, ROUND_CEILING)), high
    else:
        band = low, min(high, _grid(now * (1 - min_change), step, ROUND_FLOOR))
    # An empty band: the solve needs this move (a limit holds it) although it is small.
    return band if band[0] <= band[1] else (low, high)


def _grid(amount: float, step: Decimal, rounding: str) -> Decimal:
    units = float(amount) / float(step)
    units += -_GRID_TOL if rounding == ROUND_CEILING else _GRID_TOL
    whole = math.ceil(units) if rounding == ROUND_CEILING else math.floor(units)
    return Decimal(max(whole, 0)) * step


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
        if self.a_max[a] is not None:
            over = max(over, self.a_sum[a] - self.a_max[a])
        if self.n_max[n] is not None:
            over = max(over, self.n_sum[n] - self.n_max[n])
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
        if self.a_max[a] is not None:
            slack = min(slack, self.a_max[a] - self.a_sum[a])
        if self.n_max[n] is not None:
            slack = min(slack, self.n_max[n] - self.n_sum[n])
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
        network_full = self.n_max[n] is not None and self.n_max[n] - self.n_sum[n] < (
            self.limit - self.total)
        return same_network or not network_full
