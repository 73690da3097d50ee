"""How much a budget's path doubles back: its direction reversals and the money moved back.

A run that moves a budget up on one night's curves and down on the next night's pays two
edits (and Meta's learning phase twice) for a move that ends where it began, and makes the
month's path unforecastable. Per budget, over a stretch of days:

- reversals: moves against the direction of the budget's previous move (a move is a day
  whose budget differs from the day before's), per 30 days;
- moved back: the share of the money moved (the sum of |day-to-day change|) that does not
  show in where the budget ends, 1 - |end - start| / moved: 0 for a path that only goes one
  way, 1 for one that ends where it began.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# A change smaller than this share of the budget is rounding, not a move.
_NOISE = 1e-6


@dataclass(frozen=True)
class Churn:
    reversals: float  # per budget and 30 days (mean over budgets)
    moved_back: float  # share of all the money moved, over every budget
    moves: float  # moves per budget and 30 days

    def __str__(self) -> str:
        return (f"{self.moves:.1f} moves, {self.reversals:.1f} reversals a budget per 30 days; "
                f"{self.moved_back:.0%} of the money moved was moved back")


NO_CHURN = Churn(0.0, 0.0, 0.0)


def churn(paths: Iterable[np.ndarray]) -> Churn:
    """`paths`: stretches (e.g. months), each one row per budget and one column per day
    (the budget in force that day, in one currency), the first column the level the stretch
    starts from. Reversals and moves are per budget-stretch, scaled to 30 days."""
    reversals = moves = budget_days = moved = net = 0.0
    for budgets in paths:
        path = np.asarray(budgets, dtype=float)
        if path.ndim != 2 or path.shape[1] < 2:
            continue
        step = np.diff(path, axis=1)
        scale = np.maximum(np.abs(path[:, :-1]), 1e-12)
        sign = np.where(np.abs(step) > _NOISE * scale, np.sign(step), 0.0)
        for row in sign:
            moving = row[row != 0]
            reversals += float((moving[1:] != moving[:-1]).sum())
            moves += float(moving.size)
        budget_days += float(step.size)
        moved += float(np.abs(step).sum())
        net += float(np.abs(path[:, -1] - path[:, 0]).sum())
    if not budget_days:
        return Churn(0.0, 0.0, 0.0)
    per_30 = 30.0 / budget_days
    return Churn(reversals * per_30, 1 - net / moved if moved > 0 else 0.0, moves * per_30)
