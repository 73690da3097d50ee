"""The closed-loop evaluation runs a small market through the production path (CSV import,
`propose`, apply) without breaking a limit, and captures a sane share of the oracle's uplift."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from bench.closed_loop import MAX_CHANGE, _Loop, error_table, oracle_budgets, run, table
from bench.market import make_market, response


@pytest.mark.parametrize("scenario", ["stable-conversions", "shift-revenue"])
def test_a_short_closed_loop_keeps_every_limit_and_gains(scenario: str) -> None:
    score = run(scenario, 30, 5, 8)
    assert score.failed_calls == 0
    assert (score.total_violations, score.change_violations, score.cap_violations) == (0, 0, 0)
    assert score.oracle > score.static
    assert 0.2 < score.captured < 1.05
    # The curve-estimate error is read every day from what the proposal itself reports.
    assert len(score.level_error) == len(score.slope_error) == 8
    assert all(0 < e < 1 for e in score.level_error + score.slope_error)
    assert f"{np.mean(score.level_error[:5]):.3f}" in error_table([score])
    # How much the budgets doubled back, from the budgets the market delivered.
    assert score.churn.moves > 0 and 0 <= score.churn.moved_back <= 1
    assert f"{score.churn.moved_back:>5.0%}" in table([score])


def test_the_oracle_keeps_its_limits_and_beats_any_feasible_shuffle() -> None:
    market = make_market(40, seed=3, start=dt.date(2026, 1, 5), days=3)
    previous = market.base_budget
    total = float((previous * market.fx).sum())
    cap = {0: float(previous[0] * market.fx[0] * 1.05)}
    best = oracle_budgets(market, 1, previous, total, cap, "conversions")
    assert (best * market.fx).sum() <= total * (1 + 1e-9)
    assert np.all(np.abs(best / previous - 1) <= MAX_CHANGE + 1e-9)
    assert best[0] * market.fx[0] <= cap[0] * (1 + 1e-9)
    value = market.expected(best, 1).sum()
    rng = np.random.default_rng(0)
    for _ in range(50):  # random moves inside the same limits never do better
        trial = previous * rng.uniform(1 - MAX_CHANGE, 1 + MAX_CHANGE, previous.size)
        trial[0] = min(trial[0], cap[0] / market.fx[0])
        trial *= min(1.0, total / (trial * market.fx).sum())
        assert market.expected(trial, 1).sum() <= value + 1e-9
    assert np.all(np.diff(response(np.zeros(5, int), np.arange(5.0), np.ones(5), np.ones(5),
                                   np.full(5, 0.7))) > 0)


def test_clicks_carry_the_delivery_share_of_the_saturation_and_leave_conversions_alone() -> None:
    start = dt.date(2026, 1, 5)
    mixed = make_market(60, seed=4, start=start, days=3)
    in_rate = make_market(60, seed=4, start=start, days=3, funnel="conversion-rate")
    budget = mixed.base_budget

    def elasticity(f, b):  # d log f / d log spend around b
        return np.log(f(b * 1.05, 1) / f(b / 1.05, 1)) / np.log(1.05**2)

    e_conv = elasticity(mixed.expected, budget)
    e_clicks = elasticity(mixed.expected_clicks, budget)
    assert mixed.delivery is not None
    np.testing.assert_allclose((1 - e_clicks) / (1 - e_conv), mixed.delivery, atol=0.01)
    # All the saturation in the conversion rate: clicks rise in proportion to spend.
    np.testing.assert_allclose(elasticity(in_rate.expected_clicks, budget), 1.0, atol=1e-9)
    # The funnel has generators of its own: the conversions are drawn the same either way.
    spend_a, conv_a = mixed.deliver(budget, 1)
    _, conv_b = in_rate.deliver(budget, 1)
    np.testing.assert_array_equal(conv_a, conv_b)
    impressions, clicks = mixed.funnel(spend_a, 1)
    assert np.all(impressions > clicks) and 20 < np.median(clicks) < 1000
    assert np.median(clicks) > 20 * np.median(conv_a.sum(1))


@pytest.mark.parametrize("clicks", [True, False])
def test_the_export_carries_impressions_and_clicks_unless_told_not_to(
        tmp_path: Path, clicks: bool) -> None:
    market = make_market(5, seed=2, start=dt.date(2026, 1, 5), days=2)
    loop = _Loop(market, tmp_path, "conversions", {}, clicks)
    loop.deliver(0, market.base_budget)
    with loop.export(1, 0).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    if clicks:
        assert [int(r["clicks"]) for r in rows] == loop.funnel[:, 0, 1].tolist()
        assert all(int(r["impressions"]) > int(r["clicks"]) > 0 for r in rows)
    else:  # blank: the importer stores 0, the optimiser reads no clicks
        assert {r["clicks"] for r in rows} == {r["impressions"] for r in rows} == {""}
    loop.engine.dispose()


@pytest.mark.parametrize("scenario", ["stable-conversions", "shift-revenue"])
def test_the_true_slope_and_level_put_into_the_curves_capture_the_oracles_gain(
        scenario: str) -> None:
    # The allocation, the limits and the max-change path lose nothing of their own: with
    # the market's true level and elasticity at each budget, ours is the oracle's.
    both = run(scenario, 30, 5, 8, oracle_part="both")
    assert (both.total_violations, both.change_violations, both.cap_violations,
            both.failed_calls) == (0, 0, 0, 0)
    assert both.captured > 0.97
    fitted = run(scenario, 30, 5, 8)
    assert both.captured > fitted.captured + 0.05


def test_runs_keeping_to_the_plans_land_near_them_within_every_limit() -> None:
    """A month of the loop with a plan on every network and account and `follow_plans`: no
    limit broken, no failed call, and the month's spend of each scope near its plan: nearer
    than the same runs not keeping to them end."""
    score = run("stable-conversions", 30, 5, 30, {"follow_plans": "true"}, plans=True)
    free = run("stable-conversions", 30, 5, 30, plans=True)
    assert score.failed_calls == 0
    assert (score.total_violations, score.change_violations, score.cap_violations) == (0, 0, 0)
    assert score.plan_off is not None and free.plan_off is not None
    worst, median = score.plan_off
    assert median < 0.08 and worst < 0.15, score.plan_off
    assert free.plan_off[1] > 2 * median and free.plan_off[0] > worst
    assert "against the networks' and accounts' plans" in table([score])
