"""How sure each move is: tight evidence gives a confident probability, spend that never
varied gives a wide interval and a probability near one half; intervals always hold the
expected effect, and a unit that does not move has nothing to judge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import Exploration, Limits, fit_curves, optimize_budgets
from optimizer.confidence import move_confidence, portfolio_price
from tests.optimizer.simulate import TODAY, history

GAIN = np.array([12.0, 4.0, 8.0, 8.0])  # u0 strong, u1 weak, u2 (flat spend) = u3 (varied)
HALF = np.full(4, 100.0)


def _plan(seed: int, exploration: Exploration | None = None) -> pd.DataFrame:
    h = history(GAIN, HALF, days=90, flat={2: 100.0}, seed=seed)
    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(4)],
                          "network": ["meta", "google"] * 2, "account_id": "a",
                          "current_budget": 100.0})
    conv, rev = (fit_curves(h, today=TODAY, metric=m, lag_days=0, units=units)
                 for m in ("conversions", "revenue"))
    plan = optimize_budgets(units, conv, rev, Limits(max_change=0.2),
                            exploration=exploration or Exploration("none"))
    return plan.allocations.set_index("unit_id")


@pytest.mark.parametrize("seed", [2, 3])
def test_tight_evidence_is_confident_and_flat_spend_is_not(seed: int) -> None:
    a = _plan(seed)
    assert a.loc["u0", "proposed_budget"] > 100 and a.loc["u1", "proposed_budget"] < 100
    for unit in ("u0", "u1"):  # varied spend, clearly better / worse than the rest
        assert a.loc[unit, "prob_gain"] > 0.95 and a.loc[unit, "effect_low"] > 0
    width = (a["effect_high"] - a["effect_low"]) / (a["proposed_budget"] - 100).abs()
    # Same true curve, spend that never varied: twice as wide, and no better than a coin.
    assert width["u2"] > 1.5 * width["u3"]
    assert 0.3 < a.loc["u2", "prob_gain"] < 0.7
    assert a.loc["u2", "effect_low"] < 0 < a.loc["u2", "effect_high"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=4, max_size=4), st.floats(0.0, 0.2))
def test_interval_holds_the_effect_and_still_units_are_null(moves: list[float],
                                                            price: float) -> None:
    h = history(GAIN, HALF, days=60, seed=0)
    curves = fit_curves(h, today=TODAY, metric="conversions", lag_days=0)
    current = np.full(4, 100.0)
    proposed = current * np.asarray(moves)
    proposed[0] = current[0]  # one unit does not move
    sure = move_confidence(curves, np.arange(4), current, proposed, fx=np.ones(4),
                           day_factor=np.ones(4), price=price, revenue=False)
    assert np.isnan(sure.prob_gain[0]) and sure.effect_low[0] == sure.effect_high[0] == 0
    assert np.all(sure.effect_low <= sure.effect) and np.all(sure.effect <= sure.effect_high)
    # Every unit that moves has a probability; one whose move rounds to nothing has none.
    moving = proposed != current
    assert np.all((sure.prob_gain[moving] >= 0) & (sure.prob_gain[moving] <= 1))
    assert np.all(np.isnan(sure.prob_gain[~moving]))
    # A higher opportunity price can only make an increase less attractive.
    dearer = move_confidence(curves, np.arange(4), current, proposed, fx=np.ones(4),
                             day_factor=np.ones(4), price=price + 0.05, revenue=False)
    up = proposed > current
    assert np.all(dearer.prob_gain[up] <= sure.prob_gain[up] + 1e-12)


def test_portfolio_price_is_read_where_no_limit_binds() -> None:
    marginal = np.array([0.05, 0.02, 0.03, 0.01])
    free = np.array([False, True, True, False])
    assert portfolio_price(marginal, free, np.ones(4)) == pytest.approx(0.025)
    weights = np.array([1.0, 0.0, 0.0, 3.0])
    assert portfolio_price(marginal, np.zeros(4, bool), weights) == pytest.approx(0.02)


def test_the_cautious_objective_moves_money_toward_firm_evidence() -> None:
    """Optimising the 20th percentile: the flat-spend unit (same true curve as u3, far less
    evidence) gets less than on the best estimates, and never more than u3."""
    plain = _plan(2)
    cautious = _plan(2, Exploration("cautious", strength=0.8416))
    assert cautious.loc["u2", "proposed_budget"] < plain.loc["u2", "proposed_budget"]
    assert cautious.loc["u2", "proposed_budget"] <= cautious.loc["u3", "proposed_budget"]
    assert cautious["proposed_budget"].sum() == pytest.approx(plain["proposed_budget"].sum())
