"""Edits worth making: a move that does not pay for its edit, or is not likely to help, is
held at its current budget, its money goes to the other moves (or stays), and every limit
still holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from optimizer import (
    CurveSet,
    EditPolicy,
    Exploration,
    Limits,
    SpendLimit,
    fit_curves,
    optimize_budgets,
)
from tests.optimizer.simulate import TODAY, history

IDS, NETWORKS = ("a", "b", "c"), ("meta", "meta", "google")


def _curves(ids: tuple[str, ...], networks: tuple[str, ...], gain: np.ndarray,
            half: np.ndarray, metric: str, noise: np.ndarray | None = None) -> CurveSet:
    """Curves whose posterior draws scatter the gain by `noise` (units x draws), or not."""
    n = len(ids)
    spread = np.ones((n, 8)) if noise is None else noise
    return CurveSet(
        unit_ids=ids, network=networks, metric=metric, gain=gain, half_spend=half,
        gain_sd=gain * 0.05, log_half_spend_sd=np.full(n, 0.2), level_sd=np.full(n, 0.05),
        typical_spend=half.copy(), n_days=np.full(n, 90.0), identified=np.ones(n, dtype=bool),
        draws_gain=gain[:, None] * spread, draws_half_spend=np.repeat(half[:, None],
                                                                     spread.shape[1], axis=1),
        weekday_factor=pd.DataFrame(1.0, index=sorted(set(networks)), columns=range(7)),
    )


def _three(gain_c: float, cost: float) -> pd.DataFrame:
    """a strong, b weak (held to -30% by the max change), c close to the margin; a may
    move 60%."""
    gain = np.array([60.0, 20.0, gain_c])
    half = np.full(3, 200.0)
    units = pd.DataFrame({"unit_id": IDS, "network": NETWORKS, "account_id": ["x", "x", "y"],
                          "current_budget": 100.0})
    limits = Limits(total_budget=300.0, max_change=0.3,
                    spend_limits=(SpendLimit("unit", "a", max_change=0.6),))
    plan = optimize_budgets(
        units, _curves(IDS, NETWORKS, gain, half, "conversions"),
        _curves(IDS, NETWORKS, gain * 40, half, "revenue"), limits,
        exploration=Exploration("none"), currency="EUR", edits=EditPolicy(cost),
    )
    return plan.allocations.set_index("unit_id")


def test_a_small_gain_is_not_worth_its_edit_and_its_money_goes_elsewhere() -> None:
    free = _three(50.0, 0.0)
    assert 100 < free.loc["c", "proposed_budget"] < 101  # a tiny increase, worth ~0.01 EUR
    assert free.loc["c", "net_gain"] < 2.0
    dear = _three(50.0, 2.0)
    assert dear.loc["c", "proposed_budget"] == 100.0
    assert "not worth its edit cost" in dear.loc["c", "reason"]
    assert "2.00 EUR an edit costs" in dear.loc["c", "reason"]
    assert dear.loc["c", "kept"] and pd.isna(dear.loc["c", "binding_limit"])
    # The money c would have taken goes to a; the total is still spent and not exceeded.
    assert dear.loc["a", "proposed_budget"] > free.loc["a", "proposed_budget"]
    assert dear["proposed_budget"].sum() == pytest.approx(300.0)
    assert (dear.loc[["a", "b"], "net_gain"] > 0).all()


def test_a_decrease_not_worth_its_edit_keeps_its_money() -> None:
    free = _three(40.0, 0.0)
    assert free.loc["c", "proposed_budget"] < 90  # gives a sixth of its budget to a
    dear = _three(40.0, 2.0)
    assert dear.loc["c", "proposed_budget"] == 100.0
    assert "a move of -16.8% would gain an expected 0.94 EUR a day" in dear.loc["c", "reason"]
    # a gets only what b gives: fewer, and here smaller, moves within the same total.
    assert dear.loc["a", "proposed_budget"] == pytest.approx(130.0)
    assert dear["proposed_budget"].sum() <= 300.0 + 1e-9


def test_a_move_unlikely_to_help_is_held() -> None:
    """u2's spend never varied: a coin flip whether its move gains, so a manager who wants
    70% keeps it where it is; the well-measured moves still happen."""
    gain, half = np.array([12.0, 4.0, 8.0, 8.0]), np.full(4, 100.0)
    h = history(gain, half, days=90, flat={2: 100.0}, seed=2)
    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(4)],
                          "network": ["meta", "google"] * 2, "account_id": "a",
                          "current_budget": 100.0})
    conv, rev = (fit_curves(h, today=TODAY, metric=m, lag_days=0, units=units)
                 for m in ("conversions", "revenue"))

    def plan(edits: EditPolicy) -> pd.DataFrame:
        return optimize_budgets(units, conv, rev, Limits(max_change=0.2),
                                exploration=Exploration("none"),
                                edits=edits).allocations.set_index("unit_id")

    loose = plan(EditPolicy())
    assert loose.loc["u2", "proposed_budget"] != 100.0 and loose.loc["u2", "prob_gain"] < 0.7
    strict = plan(EditPolicy(min_prob_gain=0.7))
    assert strict.loc["u2", "proposed_budget"] == 100.0
    assert "likely to help (at least 70% wanted)" in strict.loc["u2", "reason"]
    assert strict.loc["u0", "proposed_budget"] > 100 > strict.loc["u1", "proposed_budget"]
    assert (strict["prob_gain"].dropna() >= 0.7).all()


@st.composite
def voluntary(draw: st.DrawFn) -> dict:
    """Portfolios where every move is a choice: the total is the current budgets' sum and
    every limit holds at the current budgets, so holding any move is possible."""
    n = draw(st.integers(2, 9))
    current = np.array([draw(st.floats(10, 500)) for _ in range(n)])
    gain = np.array([draw(st.floats(1, 100)) for _ in range(n)])
    half = np.array([draw(st.floats(10, 1000)) for _ in range(n)])
    seed = draw(st.integers(0, 1000))
    noise = np.random.default_rng(seed).lognormal(0.0, draw(st.sampled_from([0.0, 0.1, 0.4])),
                                                  (n, 16))
    caps = tuple(SpendLimit("unit", f"u{i}", max_daily=current[i] * draw(st.floats(1.0, 1.5)))
                 for i in range(n) if draw(st.booleans()))
    ids = tuple(f"u{i}" for i in range(n))
    networks = tuple(("meta", "google")[i % 2] for i in range(n))
    accounts = [str(draw(st.integers(0, 2))) for _ in range(n)]
    return {
        "units": pd.DataFrame({"unit_id": ids, "network": networks, "account_id": accounts,
                               "current_budget": current}),
        "conv": _curves(ids, networks, gain, half, "conversions", noise),
        "rev": _curves(ids, networks, gain * 40, half, "revenue", noise),
        "limits": Limits(total_budget=float(current.sum()),
                         max_change=draw(st.sampled_from([0.1, 0.2, 0.5])), spend_limits=caps),
        "objective": draw(st.sampled_from(["conversions", "revenue"])),
        "exploration": Exploration(draw(st.sampled_from(["none", "ucb"]))),
        "edits": EditPolicy(draw(st.sampled_from([0.01, 0.5, 5.0, 50.0])),
                            draw(st.sampled_from([0.0, 0.5, 0.8]))),
        "min_change": draw(st.sampled_from([0.0, 0.01])),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(voluntary())
def test_every_move_left_pays_for_its_edit_and_every_limit_holds(case: dict) -> None:
    note(repr(case["edits"]))
    limits, edits = case["limits"], case["edits"]
    plan = optimize_budgets(case["units"], case["conv"], case["rev"], limits,
                            objective=case["objective"], exploration=case["exploration"],
                            min_change=case["min_change"], edits=edits)
    rows = plan.allocations
    current = rows["current_budget"].to_numpy()
    proposed = rows["proposed_budget"].to_numpy()
    assert proposed.sum() <= limits.total_budget * (1 + 1e-9)
    high = current * (1 + limits.max_change)
    for cap in limits.spend_limits:
        i = int(cap.key[1:])
        high[i] = min(high[i], cap.max_daily or np.inf)
    assert np.all(proposed >= current * (1 - limits.max_change) * (1 - 1e-9))
    assert np.all(proposed <= high * (1 + 1e-9))
    moved = np.abs(proposed - current) > 1e-9 * current
    left = rows[moved]
    assert (left["net_gain"] > 0).all(), left[["net_gain", "reason"]]
    assert (left["prob_gain"] >= edits.min_prob_gain).all()
    if case["objective"] == "revenue":  # the gain is money already: against the cost itself
        assert (left["effect"] > edits.cost).all()
    kept = rows[rows["kept"]]
    assert (kept["proposed_budget"] == kept["current_budget"]).all()
    assert kept["reason"].str.startswith("kept: ").all()


def test_an_edit_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="edit cost"):
        EditPolicy(-1.0)
    with pytest.raises(ValueError, match="min_prob_gain"):
        EditPolicy(min_prob_gain=1.0)
