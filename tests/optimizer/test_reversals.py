"""A move back against a budget's last move needs firmer evidence (`reversal_prob`): noise-level
evidence does not flip a budget's direction, strong evidence does, and a move that carries on
in the last move's direction is judged as any other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import EditPolicy, Exploration, Limits, optimize_budgets
from tests.optimizer.test_edit_cost import _curves

IDS, NETWORKS = ("a", "b", "c"), ("meta", "meta", "google")


def _plan(noise_sd: float, last_b: float, bar: float, gain_b: float = 40.0) -> pd.DataFrame:
    """b is weaker than a and c, so the plan takes money from it; its posterior draws
    scatter its gain by `noise_sd` (0.3: a curve its history barely pins; 0.02: a firm
    one), and `last_b` is the direction of its last move."""
    gain, half = np.array([50.0, gain_b, 45.0]), np.full(3, 200.0)
    noise = np.random.default_rng(3).lognormal(0.0, noise_sd, (3, 32))
    units = pd.DataFrame({"unit_id": IDS, "network": NETWORKS, "account_id": "x",
                          "current_budget": 100.0, "last_move": [0.0, last_b, 0.0]})
    plan = optimize_budgets(
        units, _curves(IDS, NETWORKS, gain, half, "conversions", noise),
        _curves(IDS, NETWORKS, gain * 40, half, "revenue", noise), Limits(max_change=0.2),
        exploration=Exploration("none"), currency="EUR",
        edits=EditPolicy(reversal_prob=bar))
    return plan.allocations.set_index("unit_id")


def test_noise_level_evidence_does_not_reverse_a_budget() -> None:
    free = _plan(0.3, last_b=1.0, bar=0.0)
    assert free.loc["b", "proposed_budget"] < 90  # without the bar: back down it goes
    assert free.loc["b", "prob_gain"] < 0.6  # on a near coin flip
    held = _plan(0.3, last_b=1.0, bar=0.8)
    assert held.loc["b", "proposed_budget"] == 100.0
    assert held.loc["b", "kept"] and pd.isna(held.loc["b", "binding_limit"])
    assert held.loc["b", "reason"] == (
        "kept: a move of -16.9% would undo its last move and is only 57% likely to help "
        "(at least 80% wanted to reverse one)")
    # The total is still spent: the money b keeps is found elsewhere.
    assert held["proposed_budget"].sum() == pytest.approx(300.0)


def test_strong_evidence_reverses_a_budget() -> None:
    firm = _plan(0.02, last_b=1.0, bar=0.8)
    assert firm.loc["b", "proposed_budget"] < 90
    assert firm.loc["b", "prob_gain"] > 0.95
    # A much weaker b is clear even on the scattered draws: the bar lets it through.
    weak = _plan(0.3, last_b=1.0, bar=0.8, gain_b=30.0)
    assert weak.loc["b", "proposed_budget"] == pytest.approx(80.0)
    assert weak.loc["b", "prob_gain"] >= 0.8


def test_a_move_on_in_the_last_direction_needs_no_more_evidence() -> None:
    on = _plan(0.3, last_b=-1.0, bar=0.8)  # b was cut last time and is cut again
    assert on.loc["b", "proposed_budget"] < 90
    assert on.loc["b", "prob_gain"] < 0.8
    unknown = _plan(0.3, last_b=0.0, bar=0.8)  # no recent move: nothing to undo
    assert unknown.loc["b", "proposed_budget"] == on.loc["b", "proposed_budget"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 8), seed=st.integers(0, 10_000), bar=st.sampled_from([0.6, 0.8, 0.95]))
def test_every_move_back_clears_the_bar_and_the_limits_hold(n: int, seed: int,
                                                            bar: float) -> None:
    rng = np.random.default_rng(seed)
    ids = tuple(f"u{i}" for i in range(n))
    networks = tuple(rng.choice(["meta", "google"], n))
    gain, half = rng.uniform(5, 80, n), rng.uniform(50, 500, n)
    noise = rng.lognormal(0.0, rng.choice([0.02, 0.1, 0.4]), (n, 16))
    current = rng.uniform(20, 300, n)
    last = rng.choice([-1.0, 0.0, 1.0], n)
    units = pd.DataFrame({"unit_id": ids, "network": networks, "account_id": "x",
                          "current_budget": current, "last_move": last})
    limits = Limits(max_change=0.25)
    rows = optimize_budgets(
        units, _curves(ids, networks, gain, half, "conversions", noise),
        _curves(ids, networks, gain * 40, half, "revenue", noise), limits,
        exploration=Exploration("none"), currency="EUR",
        edits=EditPolicy(reversal_prob=bar)).allocations
    proposed = rows["proposed_budget"].to_numpy()
    back = np.sign(proposed - current) == -last
    moved = np.abs(proposed - current) > 1e-9 * current
    assert (rows.loc[back & moved, "prob_gain"] >= bar - 1e-12).all()
    assert proposed.sum() <= current.sum() * (1 + 1e-9)
    assert (np.abs(proposed - current) <= 0.25 * current * (1 + 1e-9)).all()
