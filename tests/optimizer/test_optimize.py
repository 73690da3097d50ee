"""The service-facing entry point: limits, locks, targets, currencies, exploration, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer import (
    CurveSet,
    Exploration,
    InfeasibleError,
    Limits,
    Lock,
    SpendLimit,
    optimize_budgets,
)

IDS = ("m1", "m2", "m3", "g1", "g2", "g3")
NETWORKS = ("meta", "meta", "meta", "google", "google", "google")
ACCOUNTS = ("act_1", "act_1", "act_2", "cust_1", "cust_1", "cust_2")
GAIN = np.array([40.0, 30.0, 25.0, 50.0, 20.0, 35.0])
HALF = np.array([300.0, 200.0, 400.0, 500.0, 150.0, 250.0])
CURRENT = np.array([100.0, 120.0, 80.0, 150.0, 90.0, 60.0])


def curves(gain=GAIN, half=HALF, level_sd=None, metric="conversions") -> CurveSet:
    n = len(IDS)
    sd = np.full(n, 0.05) if level_sd is None else level_sd
    rng = np.random.default_rng(0)
    draws = gain[:, None] * np.exp(rng.normal(0, 1, (n, 16)) * sd[:, None])
    return CurveSet(
        unit_ids=IDS,
        network=NETWORKS,
        metric=metric,
        gain=gain,
        half_spend=half,
        gain_sd=gain * sd,
        log_half_spend_sd=np.full(n, 0.2),
        level_sd=sd,
        typical_spend=CURRENT.copy(),
        n_days=np.full(n, 90.0),
        identified=np.ones(n, dtype=bool),
        draws_gain=draws,
        draws_half_spend=np.repeat(half[:, None], 16, axis=1),
        weekday_factor=pd.DataFrame(1.0, index=["meta", "google"], columns=range(7)),
    )


def units(fx=None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"unit_id": IDS, "network": NETWORKS, "account_id": ACCOUNTS, "current_budget": CURRENT}
    )
    if fx is not None:
        frame["fx"] = fx
    return frame


CONV = curves()
REV = curves(gain=GAIN * 45.0, metric="revenue")


def plan(limits: Limits, **kwargs):
    kwargs.setdefault("exploration", Exploration("none"))
    return optimize_budgets(units(), CONV, REV, limits, currency="EUR", **kwargs)


def test_default_run_keeps_total_and_max_change_and_gains() -> None:
    result = plan(Limits())
    frame = result.allocations
    assert frame["proposed_budget"].sum() == pytest.approx(CURRENT.sum())
    change = frame["proposed_budget"] / frame["current_budget"] - 1
    assert np.all(np.abs(change) <= 0.2 + 1e-9)
    assert result.expected.conversions >= result.baseline.conversions
    assert result.certificate.relative_gap < 1e-9
    assert set(frame["reason"]) & {"max change +20% reached", "max change -20% reached"}


def test_locks_hold_units_accounts_and_networks() -> None:
    limits = Limits(
        max_change=0.5,
        locks=(Lock("unit", "m1"), Lock("account", "cust_2"), Lock("network", "meta")),
    )
    frame = plan(limits).allocations.set_index("unit_id")
    for unit in ("m1", "m2", "m3", "g3"):
        assert frame.loc[unit, "proposed_budget"] == frame.loc[unit, "current_budget"]
        assert frame.loc[unit, "binding_limit"] == "lock"
    assert frame.loc["m1", "reason"] == "held: locked by manager"
    assert frame.loc["g3", "reason"] == "held: account cust_2 locked by manager"
    assert frame.loc["m2", "reason"] == "held: meta network locked by manager"


def test_network_cap_binds_and_is_named() -> None:
    limits = Limits(max_change=1.0, spend_limits=(SpendLimit("network", "google", max_daily=250),))
    frame = plan(limits).allocations
    google = frame[frame["network"] == "google"]
    assert google["proposed_budget"].sum() <= 250 + 1e-6
    assert (google["reason"] == "capped by google network max").any()
    assert frame["proposed_budget"].sum() == pytest.approx(CURRENT.sum())


def test_target_cpa_stops_spend_and_says_so() -> None:
    limits = Limits(total_budget=5000.0, max_change=3.0, target_cpa=12.0)
    result = plan(limits)
    assert result.unspent > 0 and "target CPA" in (result.unspent_reason or "")
    frame = result.allocations
    free = frame["binding_limit"] == "target_cpa"
    assert free.any()
    assert np.allclose(frame.loc[free, "marginal_cpa"], 12.0, rtol=1e-6)
    assert np.all(frame["marginal_cpa"][frame["binding_limit"].isna()] <= 12.0 + 1e-6)


def test_marginal_cpa_above_target_is_explained_at_the_floor() -> None:
    limits = Limits(total_budget=5000.0, target_cpa=8.0)
    frame = plan(limits).allocations
    reasons = frame["reason"].str.contains("above target 8.00 EUR")
    assert reasons.any()
    assert frame.loc[reasons, "reason"].str.startswith("max change -20% reached").all()


def test_min_roas_while_maximising_conversions_caps_units() -> None:
    limits = Limits(total_budget=5000.0, max_change=5.0, min_roas=2.5)
    frame = plan(limits).allocations
    above_floor = frame["proposed_budget"] > frame["current_budget"] * (1 - 5.0) + 1e-9
    assert np.all(frame.loc[above_floor, "marginal_roas"] >= 2.5 * (1 - 1e-9))


def test_currencies_convert_both_ways() -> None:
    fx = np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5])  # google accounts in a currency worth half
    usd_units = units(fx)
    usd_units["current_budget"] = CURRENT / fx
    conv = curves(half=HALF / fx)
    rev = curves(gain=GAIN * 45.0 / fx, half=HALF / fx, metric="revenue")
    base = plan(Limits()).allocations
    mixed = optimize_budgets(
        usd_units, conv, rev, Limits(), exploration=Exploration("none")
    ).allocations
    assert np.allclose(mixed["proposed_budget_reporting"], base["proposed_budget_reporting"])
    assert np.allclose(mixed["proposed_budget"], base["proposed_budget"] / fx)
    assert np.allclose(mixed["expected_revenue"], base["expected_revenue"])


def test_exploration_is_deterministic_and_favours_uncertain_units() -> None:
    uncertain = curves(level_sd=np.array([0.05, 0.05, 0.9, 0.05, 0.05, 0.05]))
    limits = Limits(max_change=1.0)
    none = optimize_budgets(units(), uncertain, REV, limits, exploration=Exploration("none"))
    ucb = optimize_budgets(units(), uncertain, REV, limits, exploration=Exploration("ucb"))
    spend = [p.allocations.set_index("unit_id")["proposed_budget"] for p in (none, ucb)]
    assert spend[1]["m3"] > spend[0]["m3"]
    first = optimize_budgets(units(), uncertain, REV, limits, exploration=Exploration("thompson"))
    again = optimize_budgets(units(), uncertain, REV, limits, exploration=Exploration("thompson"))
    other = optimize_budgets(
        units(), uncertain, REV, limits, exploration=Exploration("thompson", seed=9)
    )
    assert first.allocations.equals(again.allocations)
    assert not np.allclose(
        first.allocations["proposed_budget"], other.allocations["proposed_budget"]
    )
    # Expected results are always reported on the point-estimate curves.
    assert ucb.expected.conversions <= none.expected.conversions + 1e-9


def test_minimums_above_total_name_the_conflict() -> None:
    with pytest.raises(InfeasibleError) as err:
        plan(Limits(total_budget=300.0))
    assert "campaign minimums" in str(err.value) and "exceed total 300.00 EUR" in str(err.value)
