"""Simulated daily history from known curves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from optimizer.curves import response

TODAY = dt.date(2025, 3, 3)


def history(
    gain: np.ndarray,
    half: np.ndarray,
    *,
    days: int = 90,
    spread: tuple[float, float] = (0.3, 2.5),
    weekday_factor: np.ndarray | None = None,
    networks: tuple[str, ...] = ("meta", "google"),
    roas: float = 40.0,
    flat: dict[int, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Poisson conversions on f(spend) with spend drawn around each unit's half-spend."""
    rng = np.random.default_rng(seed)
    n = gain.size
    dates = [TODAY - dt.timedelta(days=d) for d in range(days, 0, -1)]
    weekday = np.array([d.weekday() for d in dates])
    spend = half[:, None] * rng.uniform(spread[0], spread[1], (n, days))
    for unit, amount in (flat or {}).items():
        spend[unit] = amount
    factor = np.ones(7) if weekday_factor is None else weekday_factor
    mean = response(spend, gain[:, None], half[:, None]) * factor[weekday]
    conversions = rng.poisson(mean)
    revenue = rng.gamma(4.0, roas / 4.0, conversions.shape) * conversions
    return pd.DataFrame(
        {
            "unit_id": np.repeat([f"u{i}" for i in range(n)], days),
            "network": np.repeat([networks[i % len(networks)] for i in range(n)], days),
            "date": np.tile(dates, n),
            "spend": spend.ravel(),
            "conversions": conversions.ravel().astype(float),
            "revenue": revenue.ravel(),
        }
    )
