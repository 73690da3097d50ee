"""Hold moves too small to be worth an edit, and re-solve so every limit still holds.

A move below the minimum change costs a platform edit for next to nothing. Dropping it after
the solve would leave the money it freed or took unaccounted for, so such units are held at
their current budget in the problem itself and the rest re-solved.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.allocate import AllocationProblem, AllocationSolution, solve_allocation
from optimizer.errors import InfeasibleError

# Finding which small moves the limits need costs a solve per try: a bounded search.
_MAX_HOLD_SOLVES = 40


def hold_negligible(
    problem: AllocationProblem, solution: AllocationSolution, current: np.ndarray,
    min_change: float,
) -> tuple[AllocationProblem, AllocationSolution, np.ndarray]:
    """Hold units whose move is below `min_change` at their current budget and re-solve.

    Dropping such moves after the solve would leave the money they freed or took unaccounted
    for (a proposal above the total, a network below its minimum). Holding them is a tighter
    problem, so the re-solve may find new small moves: repeat until none is left. A unit
    whose current budget lies outside its bounds must move, however little. Returns the
    move each held unit was denied (NaN for the others).
    """
    kept_move = np.full(current.size, np.nan)
    if min_change <= 0:
        return problem, solution, kept_move
    held = np.zeros(current.size, dtype=bool)
    inside = (problem.lower <= current) & (current <= problem.upper)
    for _ in range(current.size):
        moved = np.abs(solution.spend - current)
        small = ~held & inside & (current > 0) & (moved > 1e-12 * current)
        small &= moved < min_change * current
        if not small.any():
            break
        found = _hold(problem, current, small, moved)
        if found is None:
            break  # the limits need each of these moves, however small: keep them
        trial, trial_solution, small = found
        with np.errstate(divide="ignore", invalid="ignore"):
            kept_move = np.where(small, solution.spend / current - 1, kept_move)
        held |= small
        problem, solution = trial, trial_solution
    return problem, solution, kept_move


def _hold(
    problem: AllocationProblem, current: np.ndarray, small: np.ndarray, moved: np.ndarray
) -> tuple[AllocationProblem, AllocationSolution, np.ndarray] | None:
    """Hold as many small movers as the limits allow: all of them when they can, else
    groups of them found by halving (a total or minimum may need some of these moves),
    within a bounded number of solves."""
    candidates = np.flatnonzero(small)
    candidates = candidates[np.argsort(moved[candidates], kind="stable")]
    chosen = np.zeros(current.size, dtype=bool)
    best: tuple[AllocationProblem, AllocationSolution] | None = None
    groups = [candidates]
    for _ in range(_MAX_HOLD_SOLVES):
        if not groups:
            break
        group = groups.pop()
        trial_chosen = chosen.copy()
        trial_chosen[group] = True
        trial = replace(problem, lower=np.where(trial_chosen, current, problem.lower),
                        upper=np.where(trial_chosen, current, problem.upper))
        try:
            best = trial, solve_allocation(trial)
            chosen = trial_chosen
        except InfeasibleError:
            if group.size > 1:  # the smaller moves are tried first
                half = group.size // 2
                groups += [group[half:], group[:half]]
    if best is None:
        return None
    return best[0], best[1], chosen
