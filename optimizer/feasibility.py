"""Check that nested limits can hold together, and name the ones that cannot.

Each unit can spend anywhere in [lower, upper]; an account can then spend anywhere in
[sum of lowers, sum of uppers] intersected with its own [min, max]; the same one level up.
An empty interval anywhere (or minimums above the total) is a conflict between exactly
the limits that produced it, which the error names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optimizer.errors import InfeasibleError, InvalidInputError

if TYPE_CHECKING:
    from optimizer.allocate import AllocationProblem


def format_money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}".strip()


def check_feasible(p: AllocationProblem) -> None:
    _check_shapes(p)
    bad = np.flatnonzero(p.lower > p.upper * (1 + 1e-12) + 1e-12)
    if bad.size:
        i = int(bad[0])
        name = _name(p.unit_names, i, "campaign")
        raise InfeasibleError(
            f"campaign {name} minimum {format_money(p.lower[i], p.currency)} exceeds its maximum "
            f"{format_money(p.upper[i], p.currency)}",
            (f"campaign {name} min", f"campaign {name} max"),
        )
    low = np.bincount(p.unit_account, p.lower, p.account_min.size)
    high = np.bincount(p.unit_account, p.upper, p.account_min.size)
    low, high = _level(low, high, p.account_min, p.account_max, "account", p.account_names, p)
    low = np.bincount(p.account_network, low, p.network_min.size)
    high = np.bincount(p.account_network, high, p.network_min.size)
    low, high = _level(low, high, p.network_min, p.network_max, "network", p.network_names, p)
    floor = float(low.sum())
    if floor > p.total_budget * (1 + 1e-12) + 1e-9:
        raised = np.flatnonzero(low > np.bincount(p.account_network, _unit_floor(p), low.size))
        if raised.size:
            names = [f"network {_name(p.network_names, int(n), 'network')} min" for n in raised]
            limits = ("total budget", *names, "campaign minimums")
            what = ", ".join(names) + " and campaign minimums"
        else:
            limits = ("total budget", "campaign minimums")
            what = "campaign minimums"
        raise InfeasibleError(
            f"{what} {format_money(floor, p.currency)} exceed total "
            f"{format_money(p.total_budget, p.currency)}",
            limits,
        )


def _unit_floor(p: AllocationProblem) -> np.ndarray:
    return np.bincount(p.unit_account, p.lower, p.account_min.size)


def _level(
    low: np.ndarray,
    high: np.ndarray,
    group_min: np.ndarray,
    group_max: np.ndarray,
    kind: str,
    names: tuple[str, ...],
    p: AllocationProblem,
) -> tuple[np.ndarray, np.ndarray]:
    children = "campaigns"
    cur = p.currency
    inverted = group_min > group_max * (1 + 1e-12) + 1e-9
    too_low_max = low > group_max * (1 + 1e-12) + 1e-9
    too_high_min = high < group_min * (1 - 1e-12) - 1e-9
    for g in np.flatnonzero(inverted | too_low_max | too_high_min)[:1]:
        name = _name(names, int(g), kind)
        lo_g, hi_g, mn, mx = low[g], high[g], group_min[g], group_max[g]
        if inverted[g]:
            raise InfeasibleError(
                f"{kind} {name} min {format_money(mn, cur)} > its max {format_money(mx, cur)}",
                (f"{kind} {name} min", f"{kind} {name} max"),
            )
        if too_low_max[g]:
            raise InfeasibleError(
                f"{kind} {name} max {format_money(mx, cur)} < sum of its {children}' minimums "
                f"{format_money(lo_g, cur)}",
                (f"{kind} {name} max", f"{children} minimums in {kind} {name}"),
            )
        raise InfeasibleError(
            f"{kind} {name} min {format_money(mn, cur)} > sum of its {children}' max "
            f"{format_money(hi_g, cur)}",
            (f"{kind} {name} min", f"{children} maximums in {kind} {name}"),
        )
    return np.maximum(low, group_min), np.minimum(high, group_max)


def _check_shapes(p: AllocationProblem) -> None:
    n = p.gain.size
    for name in ("half_spend", "lower", "upper", "unit_account"):
        if getattr(p, name).shape != (n,):
            raise InvalidInputError(f"{name} must have one entry per unit ({n})")
    if not (np.all(p.gain > 0) and np.all(p.half_spend > 0)):
        raise InvalidInputError("every curve needs a positive gain and half-spend")
    if np.any(p.lower < 0) or not np.all(np.isfinite(p.upper)):
        raise InvalidInputError("unit bounds must be finite and non-negative")
    if p.account_min.shape != p.account_max.shape or p.account_network.shape != p.account_min.shape:
        raise InvalidInputError("account limits must have one entry per account")
    if p.network_min.shape != p.network_max.shape:
        raise InvalidInputError("network limits must have one entry per network")
    if n and (p.unit_account.max() >= p.account_min.size or p.unit_account.min() < 0):
        raise InvalidInputError("unit_account refers to an unknown account")
    if p.account_min.size and p.account_network.max() >= p.network_min.size:
        raise InvalidInputError("account_network refers to an unknown network")


def _name(names: tuple[str, ...], i: int, kind: str) -> str:
    return names[i] if i < len(names) else f"{kind} #{i}"
