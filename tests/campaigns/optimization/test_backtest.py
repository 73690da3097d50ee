"""Nightly re-optimisation beats static budgets on the sandbox at the same daily total."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from api.cli.main import app
from campaigns.optimization.backtest import _history, _noon, run_backtest, sandbox_units
from connectors.sandbox import SandboxConnector
from optimizer import fit_curves, marginal, response


@pytest.mark.slow
def test_thirty_days_gain_conversions_over_static_at_equal_budget() -> None:
    result = run_backtest(days=30)
    # Measured: +9.7% conversions and +10.0% revenue while spending 2.0% less (seed 7,
    # from 2026-06-01). Assert a real margin, not just a sign.
    assert result.conversion_uplift > 0.05
    assert result.revenue_uplift > 0.03
    assert result.optimised.spend <= result.static.spend * 1.01
    static_cpa = result.static.spend / result.static.conversions
    optimised_cpa = result.optimised.spend / result.optimised.conversions
    assert optimised_cpa < 0.95 * static_cpa


def test_backtest_command_prints_the_uplift() -> None:
    out = CliRunner().invoke(app, ["backtest", "--days", "3", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["days"] == 3
    assert {"conversions", "revenue", "spend"} <= set(summary["static"])
    assert summary["conversion_uplift"] > -0.02  # three days at 20% steps: small, not harmful


def test_curves_fitted_on_sandbox_history_match_its_true_curves() -> None:
    day = dt.date(2026, 6, 1)
    sandbox = SandboxConnector(seed=7, now=_noon(day))
    units = [u for u in sandbox_units(sandbox) if len(u.campaigns) == 1]
    frame = pd.DataFrame(
        {
            "unit_id": [u.key for u in units],
            "network": [u.campaigns[0].account.network for u in units],
            "fx": [u.fx for u in units],
        }
    )
    fitted = fit_curves(_history(sandbox, units, day, {}), today=day, units=frame, lag_days=7)
    rows = fitted.index_of(frame["unit_id"].tolist())
    errors, true_marginal, fitted_marginal = [], [], []
    for unit, row in zip(units, rows, strict=True):
        c = unit.campaigns[0]
        budget = sandbox.budget_on(c, day)
        spend = np.array([0.8, 1.0, 1.2]) * budget
        truth = np.array([c.expected_conversions(s) for s in spend])
        got = response(spend, fitted.gain[row], fitted.half_spend[row])
        errors.append(np.abs(got / truth - 1).max())
        true_marginal.append(
            c.ceiling * c.half_saturation / (budget + c.half_saturation) ** 2 / unit.fx
        )
        fitted_marginal.append(marginal(budget, fitted.gain[row], fitted.half_spend[row]) / unit.fx)
    # Stated tolerances around current budgets (the range the next run can move in). The
    # sandbox reports floor(count x completion), about one conversion a day short even on
    # settled days, so levels read ~10-20% low; the ranking by marginal return, which is
    # what moves money, must hold.
    assert np.median(errors) < 0.25 and np.quantile(errors, 0.9) < 0.40
    rank = spearmanr(true_marginal, fitted_marginal).statistic
    assert rank > 0.8
