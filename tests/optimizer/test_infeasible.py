"""Conflicting limits raise a typed error that names them."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.allocate import AllocationProblem, solve_allocation
from optimizer.errors import InfeasibleError


def _problem(**overrides: object) -> AllocationProblem:
    base: dict[str, object] = {
        "gain": np.array([50.0, 40.0, 30.0, 20.0]),
        "half_spend": np.array([100.0, 200.0, 300.0, 400.0]),
        "lower": np.array([1000.0, 1000.0, 1500.0, 1700.0]),
        "upper": np.array([2000.0, 2000.0, 2000.0, 2000.0]),
        "unit_account": np.array([0, 0, 1, 2]),
        "account_network": np.array([0, 0, 1]),
        "account_min": np.zeros(3),
        "account_max": np.full(3, np.inf),
        "network_min": np.zeros(2),
        "network_max": np.full(2, np.inf),
        "total_budget": 5000.0,
        "account_names": ("act_1", "act_2", "act_3"),
        "network_names": ("meta", "google"),
        "unit_names": ("c1", "c2", "c3", "c4"),
        "currency": "EUR",
    }
    base.update(overrides)
    return AllocationProblem(**base)  # type: ignore[arg-type]


def test_campaign_minimums_above_total() -> None:
    with pytest.raises(InfeasibleError) as err:
        solve_allocation(_problem())
    assert str(err.value) == "campaign minimums 5,200.00 EUR exceed total 5,000.00 EUR"
    assert err.value.limits == ("total budget", "campaign minimums")


def test_network_min_above_what_its_campaigns_can_spend() -> None:
    p = _problem(
        lower=np.zeros(4),
        upper=np.array([1000.0, 1500.0, 100.0, 100.0]),
        network_min=np.array([3000.0, 0.0]),
    )
    with pytest.raises(InfeasibleError) as err:
        solve_allocation(p)
    assert "network meta min 3,000.00 EUR > sum of its campaigns' max 2,600.00 EUR" in str(
        err.value
    )
    assert err.value.limits[0] == "network meta min"


def test_account_max_below_its_campaign_minimums() -> None:
    p = _problem(total_budget=1e6, account_max=np.array([1500.0, np.inf, np.inf]))
    with pytest.raises(InfeasibleError) as err:
        solve_allocation(p)
    assert "account act_1 max 1,500.00 EUR < sum of its campaigns' minimums 2,000.00 EUR" in str(
        err.value
    )


def test_unit_min_above_max() -> None:
    p = _problem(lower=np.array([10.0, 0, 0, 0]), upper=np.array([5.0, 10, 10, 10]))
    with pytest.raises(InfeasibleError) as err:
        solve_allocation(p)
    assert err.value.limits == ("campaign c1 min", "campaign c1 max")


def test_network_minimum_named_when_it_pushes_past_total() -> None:
    p = _problem(lower=np.zeros(4), network_min=np.array([0.0, 6000.0]))
    with pytest.raises(InfeasibleError) as err:
        solve_allocation(p)
    assert "network google min" in err.value.limits


def test_unspendable_total_spends_less_with_a_clean_certificate() -> None:
    p = _problem(lower=np.zeros(4), upper=np.full(4, 100.0))
    sol = solve_allocation(p)
    assert np.allclose(sol.spend, 100.0)
    assert sol.price == 0.0 and not sol.budget_binding
    assert sol.duality_gap <= 1e-9
