"""Random feasible allocation instances and independent reference solvers."""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, linprog, minimize

from optimizer.allocate import AllocationProblem
from optimizer.curves import marginal, response


def random_problem(seed: int, n_units: int, *, floor: bool = False) -> AllocationProblem:
    """A feasible instance: group limits are drawn inside what their members can spend."""
    rng = np.random.default_rng(seed)
    n_networks = int(rng.integers(1, 4))
    n_accounts = int(rng.integers(n_networks, n_networks + 4))
    account_network = np.concatenate(
        [np.arange(n_networks), rng.integers(0, n_networks, n_accounts - n_networks)]
    )
    unit_account = np.concatenate(
        [np.arange(min(n_accounts, n_units)), rng.integers(0, n_accounts, n_units)]
    )[:n_units]
    gain = rng.uniform(1, 100, n_units)
    half = rng.uniform(10, 500, n_units)
    current = rng.uniform(10, 400, n_units)
    change = rng.uniform(0.05, 1.0, n_units)
    lower = current * (1 - change)
    upper = current * (1 + change)
    fixed = rng.random(n_units) < 0.1
    upper = np.where(fixed, lower, upper)
    acc_min, acc_max, acc_lo, acc_hi = _group_limits(rng, unit_account, lower, upper, n_accounts)
    net_min, net_max, net_lo, net_hi = _group_limits(
        rng, account_network, acc_lo, acc_hi, n_networks
    )
    low, high = net_lo.sum(), net_hi.sum()
    total = float(low + rng.uniform(0.0, 1.2) * (high - low))
    price_floor = float(np.median(marginal(current, gain, half))) if floor else 0.0
    return AllocationProblem(
        gain=gain,
        half_spend=half,
        lower=lower,
        upper=upper,
        unit_account=unit_account.astype(np.int64),
        account_network=account_network.astype(np.int64),
        account_min=acc_min,
        account_max=acc_max,
        network_min=net_min,
        network_max=net_max,
        total_budget=total,
        price_floor=price_floor,
    )


def _group_limits(
    rng: np.random.Generator, member_group: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    g_lo = np.bincount(member_group, lo, n)
    g_hi = np.bincount(member_group, hi, n)
    g_min = np.where(rng.random(n) < 0.4, g_lo + rng.uniform(0, 0.6, n) * (g_hi - g_lo), 0.0)
    start = np.maximum(g_min, g_lo)
    g_max = np.where(rng.random(n) < 0.5, start + rng.uniform(0, 0.8, n) * (g_hi - start), np.inf)
    return g_min, g_max, np.maximum(g_lo, g_min), np.minimum(g_hi, g_max)


def objective(p: AllocationProblem, spend: np.ndarray) -> float:
    return float(response(spend, p.gain, p.half_spend).sum() - p.price_floor * spend.sum())


def group_matrices(p: AllocationProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows: total, accounts, networks (unit membership); with their lower and upper sums."""
    n = p.n_units
    acc = np.zeros((p.account_min.size, n))
    acc[p.unit_account, np.arange(n)] = 1.0
    net = np.zeros((p.network_min.size, n))
    net[p.account_network[p.unit_account], np.arange(n)] = 1.0
    matrix = np.vstack([np.ones((1, n)), acc, net])
    low = np.concatenate([[0.0], p.account_min, p.network_min])
    high = np.concatenate([[p.total_budget], p.account_max, p.network_max])
    return matrix, low, high


def violation(p: AllocationProblem, spend: np.ndarray) -> float:
    matrix, low, high = group_matrices(p)
    sums = matrix @ spend
    group = np.maximum(sums - high, 0) + np.maximum(low - sums, 0)
    unit = np.maximum(spend - p.upper, 0) + np.maximum(p.lower - spend, 0)
    return float(max(group.max(initial=0.0), unit.max(initial=0.0)))


def slsqp(p: AllocationProblem) -> tuple[float, np.ndarray, bool]:
    matrix, low, high = group_matrices(p)
    finite_high = np.where(np.isfinite(high), high, 1e12)

    def neg(x: np.ndarray) -> float:
        return -objective(p, x)

    def grad(x: np.ndarray) -> np.ndarray:
        return -(marginal(x, p.gain, p.half_spend) - p.price_floor)

    x0 = p.lower + 0.5 * (p.upper - p.lower)
    constraints = [
        {"type": "ineq", "fun": lambda x: finite_high - matrix @ x, "jac": lambda x: -matrix},
        {"type": "ineq", "fun": lambda x: matrix @ x - low, "jac": lambda x: matrix},
    ]
    result = minimize(
        neg,
        x0,
        jac=grad,
        method="SLSQP",
        bounds=Bounds(p.lower, p.upper),
        constraints=constraints,
        options={"maxiter": 1000, "ftol": 1e-14},
    )
    x = np.clip(result.x, p.lower, p.upper)
    return objective(p, x), x, bool(result.success)


def piecewise_linear_lp(p: AllocationProblem, segments: int = 60) -> float:
    """Optimum of the same problem with each curve replaced by its chord interpolation.

    Chords of a concave curve lie below it, so this is a lower bound on the true optimum.
    """
    n = p.n_units
    knots = p.lower[:, None] + (p.upper - p.lower)[:, None] * np.linspace(0, 1, segments + 1)
    values = response(knots, p.gain[:, None], p.half_spend[:, None])
    width = np.diff(knots, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(width > 0, np.diff(values, axis=1) / width, 0.0)
    cost = -(slope - p.price_floor).ravel()
    matrix, low, high = group_matrices(p)
    expand = np.repeat(matrix, segments, axis=1)
    base = matrix @ p.lower
    keep = np.isfinite(high)
    result = linprog(
        cost,
        A_ub=np.vstack([expand[keep], -expand]),
        b_ub=np.concatenate([(high - base)[keep], -(low - base)]),
        bounds=list(zip(np.zeros(n * segments), width.ravel(), strict=True)),
        method="highs",
    )
    assert result.status == 0, result.message
    fixed = objective(p, p.lower)
    return float(fixed - result.fun)
