"""Optimality of the exact allocation against independent solvers and the KKT conditions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.allocate import solve_allocation
from optimizer.curves import marginal, response
from tests.optimizer.instances import (
    group_matrices,
    objective,
    piecewise_linear_lp,
    random_problem,
    slsqp,
    violation,
)

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=st.integers(1, 200), floor=st.booleans())
def test_every_limit_holds_and_the_gap_closes(seed: int, n: int, floor: bool) -> None:
    p = random_problem(seed, n, floor=floor)
    sol = solve_allocation(p)
    assert violation(p, sol.spend) <= 1e-9 * max(p.total_budget, 1.0)
    assert sol.relative_gap <= 1e-9
    assert sol.max_violation <= 1e-9
    assert abs(objective(p, sol.spend) - sol.objective) <= 1e-9 * max(abs(sol.objective), 1)


@settings(max_examples=15, deadline=None)
@given(seed=seeds, n=st.integers(2, 30), floor=st.booleans())
def test_matches_slsqp(seed: int, n: int, floor: bool) -> None:
    p = random_problem(seed, n, floor=floor)
    ours = solve_allocation(p).objective
    theirs, x, success = slsqp(p)
    scale = max(abs(ours), 1.0)
    # SLSQP's point is clipped to the unit bounds; only compare when it is feasible.
    if violation(p, x) <= 1e-7 * max(p.total_budget, 1.0):
        assert ours >= theirs - 1e-9 * scale
        if success:
            assert ours - theirs <= 1e-6 * scale


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n=st.integers(2, 3))
def test_never_beaten_by_brute_force(seed: int, n: int) -> None:
    p = random_problem(seed, n)
    ours = solve_allocation(p).objective
    steps = 401 if n == 2 else 61
    axes = [np.linspace(lo, hi, steps) for lo, hi in zip(p.lower, p.upper, strict=True)]
    grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    matrix, low, high = group_matrices(p)
    sums = grid @ matrix.T
    slack = 1e-9 * max(p.total_budget, 1.0)
    feasible = np.all((sums <= high + slack) & (sums >= low - slack), axis=1)
    if not feasible.any():
        return
    values = response(grid[feasible], p.gain, p.half_spend).sum(axis=1)
    best = float(values.max())
    assert ours >= best - 1e-9 * max(abs(best), 1.0)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n=st.integers(1, 60), floor=st.booleans())
def test_never_loses_to_piecewise_linear_highs(seed: int, n: int, floor: bool) -> None:
    p = random_problem(seed, n, floor=floor)
    ours = solve_allocation(p).objective
    lp = piecewise_linear_lp(p)
    assert ours >= lp - 1e-9 * max(abs(lp), 1.0)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=st.integers(2, 120), floor=st.booleans())
def test_kkt_conditions(seed: int, n: int, floor: bool) -> None:
    p = random_problem(seed, n, floor=floor)
    sol = solve_allocation(p)
    s = sol.spend
    grad = marginal(s, p.gain, p.half_spend)
    tol = 1e-6
    room = p.upper - p.lower
    at_low = s <= p.lower + 1e-9 * (1 + room)
    at_high = s >= p.upper - 1e-9 * (1 + room)
    inside = ~at_low & ~at_high
    # Unbound units sit exactly at their price; bound ones are on the right side of it.
    assert np.allclose(grad[inside], sol.unit_price[inside], rtol=tol)
    assert np.all(grad[at_high & ~at_low] >= sol.unit_price[at_high & ~at_low] * (1 - tol))
    assert np.all(grad[at_low & ~at_high] <= sol.unit_price[at_low & ~at_high] * (1 + tol))
    # Equal marginal return among units no group limit binds either.
    free_group = np.isclose(sol.unit_price, max(sol.price, p.price_floor), rtol=1e-12)
    if np.any(inside & free_group):
        assert np.allclose(grad[inside & free_group], max(sol.price, p.price_floor), rtol=tol)
    # No profitable move inside an account: nobody who can grow beats anybody who can shrink.
    for account in np.unique(p.unit_account):
        members = p.unit_account == account
        can_grow = members & ~at_high
        can_shrink = members & ~at_low
        if can_grow.any() and can_shrink.any():
            assert grad[can_grow].max() <= grad[can_shrink].min() * (1 + tol)
