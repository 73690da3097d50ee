"""Targets (a plan's pace for an account or a network) never make a run infeasible: held
within what the scope's units can reach and, where their minimums pass the total, each at the
same share of its minimum; a target within reach that fits is held as asked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import Limits, SpendLimit, optimize_budgets
from optimizer.allocate import AllocationProblem
from optimizer.errors import InfeasibleError
from optimizer.feasibility import check_feasible
from optimizer.scope_targets import hold_targets
from tests.optimizer.test_optimize import CONV, REV, units


@st.composite
def portfolios(draw: st.DrawFn) -> dict:
    n_net = draw(st.integers(1, 3))
    n_acc = draw(st.integers(n_net, 6))
    account_network = np.array([i % n_net for i in range(n_acc)])
    n_units = draw(st.integers(n_acc, 12))
    unit_account = np.array([i % n_acc for i in range(n_units)])
    current = np.array(draw(st.lists(st.floats(10, 1000), min_size=n_units,
                                     max_size=n_units)))
    change = draw(st.floats(0.05, 0.5))
    locked = np.array(draw(st.lists(st.booleans(), min_size=n_units, max_size=n_units)))
    lower = np.where(locked, current, current * (1 - change))
    upper = np.where(locked, current, current * (1 + change))
    factors = st.floats(0.2, 3.0)
    targets = {}
    for kind, count in (("account", n_acc), ("network", n_net)):
        for i in range(count):
            if draw(st.booleans()):
                scope_now = current[unit_account == i].sum() if kind == "account" else \
                    current[account_network[unit_account] == i].sum()
                low = scope_now * draw(factors)
                targets[(kind, i)] = (low, low * draw(st.floats(1.0, 1.3)))
    total = current.sum() * draw(st.floats(0.9, 1.1))
    # A manager's network cap, somewhere its units can meet (else the hard limits conflict).
    unit_network = account_network[unit_account]
    net_max, net_min = np.full(n_net, np.inf), np.zeros(n_net)
    for n in range(n_net):
        floor, ceiling = lower[unit_network == n].sum(), upper[unit_network == n].sum()
        if draw(st.booleans()):
            net_max[n] = floor + (ceiling - floor) * draw(st.floats(0.0, 1.0))
        if draw(st.booleans()):  # and a minimum below that
            net_min[n] = floor + (min(net_max[n], ceiling) - floor) * draw(st.floats(0.0, 1.0))
    return {"lower": lower, "upper": upper, "unit_account": unit_account,
            "account_network": account_network, "total": total, "targets": targets,
            "n_acc": n_acc, "n_net": n_net, "network_max": net_max, "network_min": net_min}


def _problem(p: dict, acc_min: np.ndarray, acc_max: np.ndarray, net_min: np.ndarray,
             net_max: np.ndarray) -> AllocationProblem:
    n = p["lower"].size
    return AllocationProblem(
        gain=np.ones(n), half_spend=np.ones(n), lower=p["lower"], upper=p["upper"],
        unit_account=p["unit_account"], account_network=p["account_network"],
        account_min=acc_min, account_max=acc_max, network_min=net_min, network_max=net_max,
        total_budget=p["total"])


@settings(max_examples=300, deadline=None)
@given(p=portfolios())
def test_targets_are_held_within_reach_and_never_make_a_conflict(p: dict) -> None:
    zeros_a, inf_a = np.zeros(p["n_acc"]), np.full(p["n_acc"], np.inf)
    zeros_n, inf_n = p["network_min"], p["network_max"]
    try:
        check_feasible(_problem(p, zeros_a, inf_a, zeros_n, inf_n))
    except InfeasibleError:
        return  # the hard limits conflict by themselves: nothing a target can do
    held = hold_targets(
        p["lower"], p["upper"], p["unit_account"], p["account_network"], zeros_a, inf_a,
        zeros_n, inf_n, p["total"],
        {i: r for (k, i), r in p["targets"].items() if k == "account"},
        {i: r for (k, i), r in p["targets"].items() if k == "network"})
    check_feasible(_problem(p, held.account_min, held.account_max, held.network_min,
                            held.network_max))  # raises on a conflict
    reach_lo = np.bincount(p["unit_account"], p["lower"], p["n_acc"])
    reach_hi = np.bincount(p["unit_account"], p["upper"], p["n_acc"])
    for a, (lo, hi) in held.accounts.items():
        assert reach_lo[a] - 1e-9 <= lo <= hi <= reach_hi[a] + 1e-9
        want_lo, want_hi = p["targets"][("account", a)]
        n = p["account_network"][a]
        uncapped = np.isinf(p["network_max"][n]) and p["network_min"][n] == 0  # as before
        if want_lo >= reach_lo[a] and want_hi <= reach_hi[a] and held.share == 1.0 \
                and uncapped:
            assert (lo, hi) == pytest.approx((want_lo, want_hi))
    assert 0.0 <= held.share <= 1.0
    floors = np.maximum(held.network_min, np.bincount(p["account_network"],
                                                      np.maximum(held.account_min, reach_lo),
                                                      p["n_net"]))
    assert floors.sum() <= p["total"] * (1 + 1e-9)


def test_a_run_under_targets_it_cannot_all_meet_keeps_the_total_and_each_limit() -> None:
    """Through `optimize_budgets`: both networks asking 50% more than the total allows each
    keep the same two thirds of their minimum (300 of 450), the total holds, and each
    network spends at least what it keeps."""
    asks = (SpendLimit("network", "meta", 450.0, 480.0),
            SpendLimit("network", "google", 450.0, 480.0))
    plan = optimize_budgets(units(), CONV, REV, Limits(max_change=0.5, targets=asks))
    spend = plan.allocations.groupby("network")["proposed_budget"].sum()
    assert spend.sum() <= 600.0 + 1e-6
    assert plan.problem is not None
    held = plan.problem.targets
    assert held[("network", "meta")][0] == pytest.approx(300.0)
    assert held[("network", "google")][0] == pytest.approx(300.0)
    assert spend["meta"] >= 300.0 - 1e-6 and spend["google"] >= 300.0 - 1e-6
    # a target the units can reach and that fits is kept as asked
    easy = (SpendLimit("network", "meta", 320.0, 330.0),)
    plan = optimize_budgets(units(), CONV, REV, Limits(max_change=0.5, targets=easy))
    assert plan.problem is not None
    assert plan.problem.targets[("network", "meta")] == pytest.approx((320.0, 330.0))
    meta = plan.allocations.groupby("network")["proposed_budget"].sum()["meta"]
    assert 320.0 - 1e-6 <= meta <= 330.0 + 1e-6
