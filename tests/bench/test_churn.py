"""The churn figures the benches print: a budget that goes up and comes back down has
reversed and moved all its money back; one that only climbs has done neither."""

from __future__ import annotations

import numpy as np
import pytest

from bench.churn import churn


def test_a_budget_that_goes_back_and_forth_moved_its_money_back() -> None:
    # 30 days of moves: +10, -10 repeated (each move undoes the last).
    flip = np.array([[100.0 + 10 * (d % 2) for d in range(31)]])
    c = churn([flip])
    assert c.moves == pytest.approx(30.0)
    assert c.reversals == pytest.approx(29.0)
    assert c.moved_back == pytest.approx(1.0)


def test_a_budget_that_only_climbs_neither_reverses_nor_moves_back() -> None:
    climb = np.array([[100.0 * 1.05 ** (d // 3) for d in range(31)]])
    c = churn([climb])
    assert c.moves == pytest.approx(10.0)
    assert c.reversals == 0.0 and c.moved_back == pytest.approx(0.0)


def test_stretches_of_different_lengths_pool_per_budget_and_30_days() -> None:
    month = np.array([[100.0, 110.0, 100.0] + [100.0] * 28,  # one reversal in 30 days
                      [100.0] * 31])  # never moves
    short = np.array([[50.0, 50.0, 60.0, 60.0, 60.0, 60.0]])  # one move in 5 days
    c = churn([month, short])
    assert c.reversals == pytest.approx(1 * 30 / 65)
    assert c.moves == pytest.approx(3 * 30 / 65)
    assert c.moved_back == pytest.approx(1 - 10 / 30)  # 30 moved, 10 of it stays
