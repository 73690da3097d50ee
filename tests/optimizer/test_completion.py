"""Completion curves learnt from restatements recover the true arrival of conversions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.completion import HORIZON, learn_completion, prior_curve
from optimizer.errors import InvalidInputError


def _lags(tau: float, window: int) -> np.ndarray:
    """Share of a day's conversions that arrive d days after it (d = 0..HORIZON-1)."""
    lags = np.arange(HORIZON)
    pmf = np.where(lags < window, np.exp(-lags / tau), 0.0)
    return pmf / pmf.sum()


def _true_share(tau: float, window: int) -> np.ndarray:
    """Known at age a: lags 0..a-1 (yesterday read this morning holds lag 0 only)."""
    return np.concatenate([[0.0], np.cumsum(_lags(tau, window))])


def _restatements(tau: float, window: int, *, days: int, per_day: float, network: str,
                  account: str, seed: int, as_of: int | None = None) -> pd.DataFrame:
    """Days 0..days-1 read every day until `as_of`; a row only when the count changed."""
    rng = np.random.default_rng(seed)
    pmf = _lags(tau, window)
    last = as_of if as_of is not None else days + HORIZON
    rows = []
    for d in range(days):
        counts = np.cumsum(rng.multinomial(rng.poisson(per_day), pmf))
        seen = None
        for age in range(1, min(last - d, HORIZON + 5) + 1):
            count = int(counts[min(age, HORIZON) - 1])
            if count != seen:
                rows.append((f"{account}:{d}", network, account, age, count, last - d))
                seen = count
    return pd.DataFrame(rows, columns=["day", "network", "account", "age", "value", "through"])


@settings(max_examples=12, deadline=None)
@given(tau=st.floats(0.8, 8.0), window=st.sampled_from([7, 14, 30]),
       seed=st.integers(0, 10_000))
def test_learnt_curve_recovers_the_true_one(tau: float, window: int, seed: int) -> None:
    truth = _true_share(tau, window)
    obs = _restatements(tau, window, days=120, per_day=40, network="google", account="g1",
                        seed=seed)
    curve = learn_completion(obs).curve("google", "g1")
    assert curve.learnt and curve.days >= 100
    for age in (1, 3, 7, 14):
        share, sd = curve.at(age)
        # Within 0.05 and within four of its own standard errors (plus a little slack).
        assert abs(float(share) - truth[age]) < 0.05
        assert abs(float(share) - truth[age]) < 4 * float(sd) + 0.02


def test_days_still_developing_are_not_read_as_complete() -> None:
    """Censored days (seen only up to `through`) must not pull the curve up."""
    truth = _true_share(5.0, 30)
    obs = _restatements(5.0, 30, days=200, per_day=30, network="google", account="g1", seed=3,
                        as_of=200)  # the last month of days is still arriving
    share, _ = learn_completion(obs).curve("google").at(1)
    assert abs(float(share) - truth[1]) < 0.04


def test_no_observations_give_each_networks_prior() -> None:
    curves = learn_completion(
        pd.DataFrame(columns=["day", "network", "account", "age", "value", "through"]),
        networks=("meta", "google"))
    meta, google = curves.curve("meta"), curves.curve("google")
    assert not meta.learnt and not google.learnt
    # Meta counts a 7-day click window, Google up to 30 days.
    assert float(meta.at(7)[0]) == 1.0 and float(google.at(7)[0]) < 0.95
    assert float(google.at(30)[0]) == 1.0 and float(google.at(1)[0]) < float(meta.at(1)[0])
    # Wide where little is known, none for complete days.
    assert float(google.at(1)[1]) > 0.05 and float(meta.at(40)[1]) == 0.0
    assert curves.curve("snapchat").network == "snapchat"  # an unknown network: a week


def test_an_account_is_shrunk_to_its_network_until_it_has_data() -> None:
    fast, slow = _true_share(1.0, 7), _true_share(4.0, 7)
    few = _restatements(4.0, 7, days=5, per_day=20, network="meta", account="small", seed=1)
    many = _restatements(1.0, 7, days=150, per_day=30, network="meta", account="big", seed=2)
    own = _restatements(4.0, 7, days=150, per_day=30, network="meta", account="own", seed=4)
    curves = learn_completion(pd.concat([few, many, own], ignore_index=True))
    assert ("meta", "small") not in curves.accounts  # too little: reads the network's
    assert curves.curve("meta", "small") is curves.curve("meta")
    assert abs(float(curves.curve("meta", "own").at(1)[0]) - slow[1]) < 0.06
    assert abs(float(curves.curve("meta", "big").at(1)[0]) - fast[1]) < 0.06


def test_missing_columns_are_named() -> None:
    with pytest.raises(InvalidInputError, match="through"):
        learn_completion(pd.DataFrame({"day": [], "network": [], "account": [], "age": [],
                                       "value": []}))


def test_prior_shares_rise_to_one() -> None:
    for network in ("meta", "google", "tiktok"):
        share = prior_curve(network).share
        assert np.all(np.diff(share) >= -1e-12) and share[-1] == 1.0
