"""The curve fits `optimize` makes (conversions, then revenue with its shape read from the
conversions), with and without the clicks read, on N units x 90 days; CPU seconds, min of
--repeat. With `--save FILE` the fitted curves are kept (npz) to compare two versions.

Run: python bench/bench_fit_clicks.py [--units 10000] [--repeat 3] [--save FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.environ.get("FIT_PATH", str(Path(__file__).resolve().parents[1])))

from optimizer import fitting
from optimizer.curves import response

TODAY = dt.date(2025, 3, 3)


def portfolio(n: int, days: int = 90, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n units on 4 networks and n/50 accounts; clicks by the hundred a day for 80% of them
    (half saturating with delivery, half in proportion to spend), a few for the rest."""
    rng = np.random.default_rng(seed)
    budget = rng.uniform(20, 400, n)
    half = budget * rng.uniform(0.3, 3.0, n)
    gain = rng.uniform(2, 20, n) * (budget + half) / budget
    spend = budget[:, None] * rng.uniform(0.5, 1.6, (n, days))
    conv = rng.poisson(response(spend, gain[:, None], half[:, None]))
    revenue = rng.gamma(4.0, 10.0, conv.shape) * conv
    per_day = np.where(rng.random(n) < 0.8, rng.uniform(80, 400, n), rng.uniform(0.5, 2, n))
    delivery = rng.random(n) < 0.5
    shape = np.where(delivery[:, None], response(spend, 1.0, half[:, None])
                     / response(budget, 1.0, half)[:, None], spend / budget[:, None])
    clicks = rng.poisson(per_day[:, None] * shape)
    ids = np.asarray([f"u{i}" for i in range(n)])
    networks = np.asarray(["meta", "google", "tiktok", "microsoft"])[np.arange(n) % 4]
    dates = pd.to_datetime([TODAY - dt.timedelta(days=d) for d in range(days, 0, -1)])
    history = pd.DataFrame({
        "unit_id": np.repeat(ids, days), "network": np.repeat(networks, days),
        "date": np.tile(dates, n), "spend": spend.ravel(),
        "conversions": conv.ravel().astype(float), "revenue": revenue.ravel(),
        "clicks": clicks.ravel().astype(float),
    })
    units = pd.DataFrame({"unit_id": ids, "network": networks, "current_budget": budget,
                          "account_id": [f"a{i % max(n // 50, 4)}" for i in range(n)]})
    return history, units


def fit_both(history: pd.DataFrame, units: pd.DataFrame, hint: str | None) -> dict:
    """The two fits as `optimize` asks for them."""
    options = {"today": TODAY, "lag_days": 3, "units": units, "half_life_days": 30.0}
    if hasattr(fitting, "fit_curve_sets"):
        return fitting.fit_curve_sets(history, metrics=("conversions", "revenue"),
                                      shape_from="conversions", shape_hint=hint, **options)
    return {metric: fitting.fit_curves(
        history, metric=metric, shape_from="conversions" if metric == "revenue" else None,
        shape_hint=hint, **options) for metric in ("conversions", "revenue")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    history, units = portfolio(args.units)
    for hint in (None, "clicks"):
        cpu = []
        for _ in range(args.repeat):
            start = time.process_time()
            fits = fit_both(history, units, hint)
            cpu.append(time.process_time() - start)
        print(f"{args.units:,} units x 90 days, conversions + revenue, clicks "
              f"{'read' if hint else 'not read'}: min {min(cpu):.2f} s CPU of "
              f"{', '.join(f'{c:.2f}' for c in cpu)} (load {os.getloadavg()[0]:.1f})")
    if args.save:
        np.savez(args.save, **{f"{m}_{field}": getattr(c, field) for m, c in fits.items()
                               for field in ("gain", "half_spend", "gain_sd",
                                             "log_half_spend_sd", "level_sd", "identified",
                                             "draws_gain", "draws_half_spend")})


if __name__ == "__main__":
    main()
