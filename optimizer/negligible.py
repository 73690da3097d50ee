"""Hold moves not worth an edit, and re-solve so every limit still holds.

A move below the minimum change, or one whose expected gain does not pay for the edit (see
`edits.py`), costs a platform edit for too little. Dropping it after the solve would leave
the money it freed or took unaccounted for, so such units are held at their current budget
in the problem itself and the rest re-solved: their money goes to the remaining moves, or
stays unspent when no remaining move may take it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from optimizer.allocate import AllocationProblem, AllocationSolution, solve_allocation
from optimizer.errors import InfeasibleError

# Finding which moves the limits need costs a solve per try: a bounded search.
_MAX_HOLD_SOLVES = 40

# Given the problem as now solved, its solution and which units are already held: which
# further units to hold, and per unit a row of figures saying why (kept for the reasons).
Selector = Callable[
    [AllocationProblem, AllocationSolution, np.ndarray], tuple[np.ndarray, np.ndarray]
]


def moved_units(current: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Units whose solved budget differs from the current one by more than float noise."""
    return np.abs(spend - current) > 1e-12 * np.maximum(current, 1e-9)


def negligible_moves(current: np.ndarray, spend: np.ndarray, min_change: float) -> np.ndarray:
    """Moves smaller than `min_change` of the current budget (a paused unit never has one)."""
    if min_change <= 0:
        return np.zeros(current.size, dtype=bool)
    moved = np.abs(spend - current)
    return moved_units(current, spend) & (current > 0) & (moved < min_change * current)


def hold_negligible(
    problem: AllocationProblem, solution: AllocationSolution, current: np.ndarray,
    min_change: float,
) -> tuple[AllocationProblem, AllocationSolution, np.ndarray]:
    """Hold units whose move is below `min_change` at their current budget and re-solve.

    Returns the move each held unit was denied, relative to its current budget (NaN for
    the others).
    """
    def select(p: AllocationProblem, s: AllocationSolution, held: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = s.spend / current - 1
        return negligible_moves(current, s.spend, min_change), ratio[None, :]

    problem, solution, _, info = hold_moves(problem, solution, current, select, rows=1)
    return problem, solution, info[0]


def hold_moves(
    problem: AllocationProblem, solution: AllocationSolution, current: np.ndarray,
    select: Selector, *, rows: int,
) -> tuple[AllocationProblem, AllocationSolution, np.ndarray, np.ndarray]:
    """Hold the units `select` names at their current budget and re-solve, until it names
    none (holding is a tighter problem, so a re-solve may bring new moves to judge).

    A unit whose current budget lies outside its bounds must move, however little, and
    moves the limits need (a total below the current budgets, a minimum) are kept. Returns
    the final problem and solution, which units were held, and `select`'s `rows` figures of
    each held unit as they were when it was held (NaN for the others).
    """
    held = np.zeros(current.size, dtype=bool)
    info = np.full((rows, current.size), np.nan)
    inside = (problem.lower <= current) & (current <= problem.upper)
    for _ in range(current.size):
        wanted, figures = select(problem, solution, held)
        wanted = wanted & ~held & inside
        if not wanted.any():
            break
        found = _hold(problem, current, wanted, np.abs(solution.spend - current))
        if found is None:
            break  # the limits need each of these moves, however small: keep them
        trial, trial_solution, chosen = found
        info[:, chosen] = figures[:, chosen]
        held |= chosen
        problem, solution = trial, trial_solution
    return problem, solution, held, info


def _hold(
    problem: AllocationProblem, current: np.ndarray, small: np.ndarray, moved: np.ndarray
) -> tuple[AllocationProblem, AllocationSolution, np.ndarray] | None:
    """Hold as many of the named movers as the limits allow: all of them when they can, else
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
