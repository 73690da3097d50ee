"""Fitting conversions and revenue together, each series and the click evidence read once,
gives the curves the metric-by-metric fits gave, to the last digit.

`funnel_fits.npz` holds the curves the metric-by-metric fit (`fit_curves` for conversions
with the clicks read, then for revenue with its shape from the conversions) gave on
`_portfolio()` before the reads were shared: `python -m tests.optimizer.test_fit_reuse`
writes it again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.curves import response
from optimizer.fitting import fit_curves

TODAY = dt.date(2025, 3, 3)
SAVED = Path(__file__).with_name("funnel_fits.npz")
FIELDS = ("gain", "half_spend", "gain_sd", "log_half_spend_sd", "level_sd", "identified",
          "n_days", "draws_gain", "draws_half_spend")
OPTIONS = {"today": TODAY, "lag_days": 3, "half_life_days": 30.0}


def _portfolio(n: int = 240, days: int = 60) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three networks and a dozen accounts; clicks by the hundred a day for most units (some
    saturating with delivery, some in proportion to spend), a few for the rest, none for
    some; a completion frame for the recent days."""
    rng = np.random.default_rng(5)
    budget = rng.uniform(20, 400, n)
    half = budget * rng.uniform(0.3, 3.0, n)
    gain = rng.uniform(2, 20, n) * (budget + half) / budget
    spend = budget[:, None] * rng.uniform(0.5, 1.6, (n, days))
    spend[::17] = budget[::17, None]  # flat spend: clicks not read
    conv = rng.poisson(response(spend, gain[:, None], half[:, None]))
    revenue = rng.gamma(4.0, 10.0, conv.shape) * conv
    per_day = rng.choice([0.0, 1.0, 150.0, 300.0], n, p=[0.1, 0.2, 0.35, 0.35])
    delivery = rng.random(n) < 0.5
    shape = np.where(delivery[:, None], response(spend, 1.0, half[:, None])
                     / response(budget, 1.0, half)[:, None], spend / budget[:, None])
    clicks = rng.poisson(per_day[:, None] * shape)
    ids = np.asarray([f"u{i}" for i in range(n)])
    networks = np.asarray(["meta", "google", "tiktok"])[np.arange(n) % 3]
    dates = [TODAY - dt.timedelta(days=d) for d in range(days, 0, -1)]
    history = pd.DataFrame({
        "unit_id": np.repeat(ids, days), "network": np.repeat(networks, days),
        "date": np.tile(dates, n), "spend": spend.ravel(),
        "conversions": conv.ravel().astype(float), "revenue": revenue.ravel(),
        "clicks": clicks.ravel().astype(float),
    })
    units = pd.DataFrame({"unit_id": ids, "network": networks, "current_budget": budget,
                          "account_id": [f"a{i % 12}" for i in range(n)]})
    recent = [TODAY - dt.timedelta(days=d) for d in range(4, 11)]
    completion = pd.DataFrame({
        "unit_id": np.repeat(ids, len(recent)), "date": np.tile(recent, n),
        "share": np.tile(np.linspace(0.6, 0.97, len(recent)), n), "share_sd": 0.05})
    return history, units, completion


def _one_by_one() -> dict:
    history, units, completion = _portfolio()
    return {metric: fit_curves(history, metric=metric, units=units, completion=completion,
                               shape_from="conversions" if metric == "revenue" else None,
                               shape_hint="clicks", **OPTIONS)
            for metric in ("conversions", "revenue")}


def _arrays(fits: dict) -> dict[str, np.ndarray]:
    # The draws' first four columns: their generator runs the same way for all of them.
    return {f"{metric}_{field}": np.asarray(getattr(fits[metric], field))[..., :4]
            if field.startswith("draws") else np.asarray(getattr(fits[metric], field))
            for metric in ("conversions", "revenue") for field in FIELDS}


def test_conversions_and_revenue_fitted_together_are_the_curves_fitted_one_by_one() -> None:
    from optimizer.fitting import fit_curve_sets

    history, units, completion = _portfolio()
    together = fit_curve_sets(history, metrics=("conversions", "revenue"), units=units,
                              completion=completion, shape_from="conversions",
                              shape_hint="clicks", **OPTIONS)
    saved = np.load(SAVED)
    for fits in (together, _one_by_one()):
        for name, got in _arrays(fits).items():
            np.testing.assert_allclose(got, saved[name], rtol=1e-12, atol=0, err_msg=name)
    # The clicks moved some shapes (the comparison is not of curves the clicks left alone).
    plain = fit_curves(history, metric="conversions", units=units, completion=completion,
                       **OPTIONS)
    moved = np.abs(together["conversions"].half_spend / plain.half_spend - 1) > 0.01
    assert 20 < moved.sum() < len(moved)


if __name__ == "__main__":
    np.savez_compressed(SAVED, **_arrays(_one_by_one()))
