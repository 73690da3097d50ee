"""The value objective: conversion and reach campaigns in one proposal, moved by what their
results are worth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer import (
    CurveSet,
    Exploration,
    InvalidInputError,
    Limits,
    optimize_budgets,
    result_curves,
)

IDS = ("conv1", "conv2", "reach1", "reach2")
NETWORKS = ("meta", "google", "meta", "google")
ACCOUNTS = ("act_1", "cust_1", "act_1", "cust_1")
KINDS = ("conversions", "conversions", "reach", "reach")
CURRENT = np.array([100.0, 100.0, 100.0, 100.0])
# Conversions: 3 a day at 100 EUR; reach: 30,000 people a day at 100 EUR (both half-saturated).
CONV_GAIN = np.array([6.0, 6.0, 0.0, 0.0])
REACH_GAIN = np.array([0.0, 0.0, 60_000.0, 60_000.0])
HALF = np.full(4, 100.0)


def curves(gain: np.ndarray, metric: str, ids: tuple[str, ...] = IDS,
           networks: tuple[str, ...] = NETWORKS) -> CurveSet:
    n = len(ids)
    half = HALF[:n]
    return CurveSet(
        unit_ids=ids, network=networks, metric=metric, gain=gain, half_spend=half,
        gain_sd=gain * 0.05, log_half_spend_sd=np.full(n, 0.2), level_sd=np.full(n, 0.05),
        typical_spend=half.copy(), n_days=np.full(n, 90.0), identified=np.ones(n, dtype=bool),
        draws_gain=np.repeat(gain[:, None], 8, axis=1) * np.linspace(0.9, 1.1, 8),
        draws_half_spend=np.repeat(half[:, None], 8, axis=1),
        weekday_factor=pd.DataFrame(1.0, index=["meta", "google"], columns=range(7)),
    )


CONV = curves(CONV_GAIN, "conversions")
REV = curves(CONV_GAIN * 40.0, "revenue")
# Each result's curve is fitted on the units that buy it only.
REACH = curves(REACH_GAIN[2:], "reach", IDS[2:], NETWORKS[2:])


def units(fx: np.ndarray | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"unit_id": IDS, "network": NETWORKS, "account_id": ACCOUNTS,
                          "current_budget": CURRENT, "result_kind": KINDS})
    if fx is not None:
        frame["fx"] = fx
    return frame


def plan(reach_value: float, conversion_value: float = 30.0, fx: np.ndarray | None = None,
         limits: Limits | None = None, **kwargs):
    frame = units(fx)
    results = result_curves(frame, {"conversions": CONV, "reach": REACH},
                            {"conversions": conversion_value, "reach": reach_value})
    return optimize_budgets(frame, CONV, REV, limits or Limits(max_change=0.5),
                            objective="value", results=results, currency="EUR",
                            exploration=Exploration("none"), **kwargs)


def spend_on(allocation, kind: str) -> float:
    rows = allocation.allocations
    return float(rows.loc[rows["result_kind"] == kind, "proposed_budget_reporting"].sum())


def test_equal_worth_at_the_margin_moves_nothing() -> None:
    # At 100 EUR a conversion unit's marginal value is 30 x 6 x 100 / 200^2 = 0.45 EUR per
    # EUR; a reach unit's is 60,000 x 100 / 200^2 / 1000 x 3.00 = 0.45 at 3.00 per 1,000.
    allocation = plan(reach_value=3.0)
    assert spend_on(allocation, "reach") == pytest.approx(200.0, rel=1e-6)
    assert allocation.allocations["marginal_return"].to_numpy() == pytest.approx(0.45)


def test_raising_the_reach_value_moves_budget_to_reach() -> None:
    low, mid, high = plan(reach_value=2.0), plan(reach_value=3.0), plan(reach_value=4.0)
    assert spend_on(high, "reach") > spend_on(mid, "reach") > spend_on(low, "reach")
    assert spend_on(high, "conversions") < spend_on(mid, "conversions")
    for allocation in (low, mid, high):  # the total holds whatever the values
        total = allocation.allocations["proposed_budget_reporting"].sum()
        assert total == pytest.approx(400.0, rel=1e-9)
    rows = high.allocations.set_index("unit_id")
    assert rows.loc["reach1", "proposed_budget"] > 100.0
    assert rows.loc["conv1", "proposed_budget"] < 100.0
    assert high.expected.value > high.baseline.value  # the move is worth more


def test_lowering_the_reach_value_moves_budget_away_from_reach() -> None:
    allocation = plan(reach_value=1.0)
    rows = allocation.allocations.set_index("unit_id")
    assert rows.loc["reach1", "proposed_budget"] == pytest.approx(50.0)  # max change -50%
    assert rows.loc["conv1", "proposed_budget"] == pytest.approx(150.0)


def test_reasons_say_what_each_move_buys() -> None:
    rows = plan(reach_value=4.0).allocations.set_index("unit_id")
    assert "; buys " in rows.loc["reach1", "reason"]
    assert "people reached a day (estimate)" in rows.loc["reach1", "reason"]
    assert "; gives up " in rows.loc["conv1", "reason"]
    assert "conversions a day" in rows.loc["conv1", "reason"]
    assert "marginal value" in rows.loc["reach2", "reason"] or rows.loc[
        "reach2", "binding_limit"] is not None
    assert rows.loc["reach1", "result_kind"] == "reach"
    gained = rows.loc["reach1", "expected_result"] - rows.loc["reach1", "expected_result_current"]
    assert gained > 0
    worth = rows.loc["reach1", "expected_value"] - rows.loc["reach1", "expected_value_current"]
    assert worth == pytest.approx(gained * 4.0 / 1000)


def test_values_are_in_the_reporting_currency_whatever_the_unit_currency() -> None:
    # The google units are in USD at 0.5 EUR per USD: 200 USD is the same 100 EUR.
    fx = np.array([1.0, 0.5, 1.0, 0.5])
    frame = units(fx)
    frame.loc[[1, 3], "current_budget"] = 200.0
    conv = curves(np.array([6.0, 6.0, 0.0, 0.0]), "conversions")
    conv_usd = CurveSet(**{**conv.__dict__, "half_spend": np.array([100.0, 200.0, 100.0, 200.0]),
                           "draws_half_spend": np.repeat(
                               np.array([100.0, 200.0, 100.0, 200.0])[:, None], 8, axis=1)})
    reach = curves(REACH_GAIN[2:], "reach", IDS[2:], NETWORKS[2:])
    reach_usd = CurveSet(**{**reach.__dict__, "half_spend": np.array([100.0, 200.0]),
                            "draws_half_spend": np.repeat(np.array([100.0, 200.0])[:, None], 8,
                                                          axis=1)})
    results = result_curves(frame, {"conversions": conv_usd, "reach": reach_usd},
                            {"conversions": 30.0, "reach": 3.0})
    allocation = optimize_budgets(frame, conv_usd, conv_usd, Limits(max_change=0.5),
                                  objective="value", results=results, currency="EUR",
                                  exploration=Exploration("none"))
    # Same curves in EUR terms, equal worth at the margin: nothing moves.
    assert allocation.allocations["proposed_budget"].to_numpy() == pytest.approx(
        [100.0, 200.0, 100.0, 200.0], rel=1e-6)


def test_a_kind_without_a_value_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="1,000 people reached"):
        result_curves(units(), {"conversions": CONV, "reach": REACH}, {"conversions": 30.0})
    with pytest.raises(InvalidInputError, match="no fitted reach curves"):
        result_curves(units(), {"conversions": CONV}, {"conversions": 30.0, "reach": 2.0})
    with pytest.raises(InvalidInputError, match="needs each unit's result curves"):
        optimize_budgets(units(), CONV, REV, Limits(), objective="value")


def test_a_result_worth_nothing_gets_only_what_its_limits_force() -> None:
    allocation = plan(reach_value=0.0)
    rows = allocation.allocations.set_index("unit_id")
    assert rows.loc["reach1", "proposed_budget"] == pytest.approx(50.0)  # the max change floor
    assert rows.loc["reach1", "expected_value"] == 0.0
    assert rows.loc[["conv1", "conv2"], "proposed_budget"].to_numpy() == pytest.approx(150.0)


def test_targets_on_conversions_and_revenue_do_not_bind_the_value_objective() -> None:
    free = plan(reach_value=1.0)
    targeted = plan(reach_value=1.0, limits=Limits(max_change=0.5, target_cpa=1.0, min_roas=50.0))
    assert targeted.allocations["proposed_budget"].to_numpy() == pytest.approx(
        free.allocations["proposed_budget"].to_numpy())
    assert not targeted.allocations["reason"].str.contains("target|minimum ROAS").any()
    assert targeted.unspent_reason is None
