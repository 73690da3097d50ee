"""Allocation and curve-fitting timings, with SLSQP on the same instances for reference.

Run: python bench/bench_optimizer.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.allocate import AllocationProblem, solve_allocation
from optimizer.curves import marginal, response
from optimizer.fitting import fit_curves

NETWORKS = 4


def instance(n: int, seed: int = 0) -> AllocationProblem:
    """n units over 4 networks and n/50 accounts; network caps, unit bounds, 20% max change."""
    rng = np.random.default_rng(seed)
    n_accounts = max(NETWORKS, n // 50)
    unit_account = rng.integers(0, n_accounts, n)
    account_network = np.arange(n_accounts) % NETWORKS
    current = rng.uniform(20, 400, n)
    unit_min = np.where(rng.random(n) < 0.1, current * 0.9, 0.0)
    unit_max = np.where(rng.random(n) < 0.1, current * 1.05, np.inf)
    lower = np.clip(current * 0.8, unit_min, unit_max)
    upper = np.clip(current * 1.2, unit_min, unit_max)
    by_network = np.bincount(account_network[unit_account], current, NETWORKS)
    return AllocationProblem(
        gain=rng.uniform(5, 100, n),
        half_spend=rng.uniform(20, 800, n),
        lower=lower,
        upper=upper,
        unit_account=unit_account,
        account_network=account_network,
        account_min=np.zeros(n_accounts),
        account_max=np.full(n_accounts, np.inf),
        network_min=np.array([0.0, by_network[1] * 1.05, 0.0, 0.0]),
        network_max=np.array([by_network[0] * 0.9, np.inf, by_network[2] * 0.95, np.inf]),
        total_budget=float(current.sum() * 1.02),
    )


def time_exact(p: AllocationProblem, repeat: int) -> tuple[float, float, float]:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        sol = solve_allocation(p)
        best = min(best, time.perf_counter() - start)
    return best, sol.objective, sol.relative_gap


def time_slsqp(p: AllocationProblem) -> tuple[float, float]:
    n = p.n_units
    net = np.zeros((NETWORKS, n))
    net[p.account_network[p.unit_account], np.arange(n)] = 1.0
    capped = np.isfinite(p.network_max)

    def neg(x: np.ndarray) -> float:
        return -float(response(x, p.gain, p.half_spend).sum())

    def grad(x: np.ndarray) -> np.ndarray:
        return -marginal(x, p.gain, p.half_spend)

    constraints = [
        {"type": "ineq", "fun": lambda x: p.total_budget - x.sum(), "jac": lambda x: -np.ones(n)},
        {
            "type": "ineq",
            "fun": lambda x: p.network_max[capped] - net[capped] @ x,
            "jac": lambda x: -net[capped],
        },
        {"type": "ineq", "fun": lambda x: net @ x - p.network_min, "jac": lambda x: net},
    ]
    start = time.perf_counter()
    result = minimize(
        neg,
        p.lower + 0.5 * (p.upper - p.lower),
        jac=grad,
        method="SLSQP",
        bounds=Bounds(p.lower, p.upper),
        constraints=constraints,
        options={"maxiter": 2000, "ftol": 1e-12},
    )
    elapsed = time.perf_counter() - start
    x = np.clip(result.x, p.lower, p.upper)
    return elapsed, -neg(x)


def bench_allocation(sizes: list[int]) -> None:
    print("allocation (exact, nested caps)")
    print(f"{'units':>10} {'seconds':>10} {'rel. gap':>10}")
    for n in sizes:
        seconds, _, gap = time_exact(instance(n), repeat=3 if n < 1_000_000 else 2)
        print(f"{n:>10,} {seconds:>10.4f} {gap:>10.1e}")


def bench_slsqp(sizes: list[int]) -> None:
    print("\nexact vs scipy SLSQP on the same instances")
    print(
        f"{'units':>6} {'exact s':>9} {'SLSQP s':>9} {'speed-up':>9} "
        f"{'objective gap (exact-SLSQP)/|exact|':>38}"
    )
    for n in sizes:
        p = instance(n, seed=1)
        exact_s, exact_obj, _ = time_exact(p, repeat=20)
        slsqp_s, slsqp_obj = time_slsqp(p)
        gap = (exact_obj - slsqp_obj) / abs(exact_obj)
        print(f"{n:>6} {exact_s:>9.5f} {slsqp_s:>9.3f} {slsqp_s / exact_s:>8.0f}x {gap:>38.2e}")


def bench_fitting(n_units: int, days: int) -> None:
    rng = np.random.default_rng(2)
    today = dt.date(2025, 3, 3)
    gain = rng.uniform(10, 100, n_units)
    half = rng.uniform(50, 500, n_units)
    spend = half[:, None] * rng.uniform(0.3, 2.5, (n_units, days))
    dates = pd.to_datetime([today - dt.timedelta(days=d) for d in range(days, 0, -1)])
    conversions = rng.poisson(response(spend, gain[:, None], half[:, None]))
    history = pd.DataFrame(
        {
            "unit_id": np.repeat(np.arange(n_units).astype(str), days),
            "network": np.repeat(np.arange(n_units) % NETWORKS, days).astype(str),
            "date": np.tile(dates, n_units),
            "spend": spend.ravel(),
            "conversions": conversions.ravel(),
        }
    )
    start = time.perf_counter()
    fitted = fit_curves(history, today=today, window_days=days)
    elapsed = time.perf_counter() - start
    rows = fitted.index_of(np.arange(n_units).astype(str).tolist())
    err = np.abs(
        response(half, fitted.gain[rows], fitted.half_spend[rows]) / response(half, gain, half) - 1
    )
    print(
        f"\ncurve fitting: {n_units:,} units x {days} days in {elapsed:.2f} s "
        f"(median error at half-spend {np.median(err):.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip 1e6 units and 300-unit SLSQP")
    args = parser.parse_args()
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    bench_allocation(sizes)
    bench_slsqp([100] if args.quick else [100, 300])
    bench_fitting(2_000 if args.quick else 10_000, 90)


if __name__ == "__main__":
    main()
