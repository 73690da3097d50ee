"""Value-of-information exploration ("voi"): it moves at most its share of the total, never
breaks a limit (unit caps, max change, locks, account caps, the total), spends what the plan
spent, flags each move it makes and says so in the reason; a campaign whose curve is a
guess is explored."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from optimizer import (
    CurveSet,
    Exploration,
    InfeasibleError,
    Limits,
    Lock,
    SpendLimit,
    optimize_budgets,
)

TOL = 1e-6


def _curves(gain: np.ndarray, half: np.ndarray, sd: np.ndarray, networks: tuple[str, ...],
            seed: int, metric: str = "conversions") -> CurveSet:
    n = gain.size
    rng = np.random.default_rng(seed)
    spread = rng.standard_normal((n, 16)) * sd[:, None]
    return CurveSet(
        unit_ids=tuple(f"u{i}" for i in range(n)), network=networks, metric=metric,
        gain=gain, half_spend=half, gain_sd=gain * sd, log_half_spend_sd=sd,
        level_sd=sd, typical_spend=half.copy(), n_days=np.full(n, 60.0),
        identified=sd < 0.6, draws_gain=gain[:, None] * np.exp(spread),
        draws_half_spend=half[:, None] * np.exp(-spread * 1.5),
        weekday_factor=pd.DataFrame(1.0, index=sorted(set(networks)), columns=range(7)),
    )


@st.composite
def portfolios(draw: st.DrawFn) -> dict:
    n = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    current = rng.uniform(20, 400, n)
    networks = tuple(draw(st.sampled_from(["meta", "google"])) for _ in range(n))
    accounts = [f"{net}-{draw(st.integers(0, 1))}" for net in networks]
    gain = rng.uniform(2, 40, n)
    half = current * rng.uniform(0.3, 3.0, n)
    sd = rng.uniform(0.01, 1.2, n)
    limits, capped = [], set()
    for i in range(n):  # a manager's cap around the budget (a cap wins over the max change)
        if draw(st.booleans()):
            low = float(current[i] * draw(st.floats(0.5, 1.0)))
            high = float(current[i] * draw(st.floats(1.0, 1.6)))
            limits.append(SpendLimit("unit", f"u{i}", low, high))
            capped.add(i)
    for account in sorted(set(accounts)):
        if draw(st.booleans()):
            spent = current[[a == account for a in accounts]].sum()
            limits.append(SpendLimit("account", account, None,
                                     float(spent * draw(st.floats(1.0, 1.3)))))
    locks = tuple(Lock("unit", f"u{i}") for i in range(n)
                  if i not in capped and draw(st.integers(0, 5)) == 0)
    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "network": networks,
                          "account_id": accounts, "current_budget": current})
    return {
        "units": units, "curves": _curves(gain, half, sd, networks, seed),
        "limits": Limits(total_budget=float(current.sum() * draw(st.floats(0.9, 1.1))),
                         max_change=draw(st.floats(0.05, 0.5)), spend_limits=tuple(limits),
                         locks=locks),
        "share": draw(st.floats(0.0, 0.3)),
    }


def _plan(p: dict, exploration: Exploration) -> pd.DataFrame:
    curves = p["curves"]
    try:
        plan = optimize_budgets(p["units"], curves, curves, p["limits"], exploration=exploration)
    except InfeasibleError:
        assume(False)  # limits that conflict are refused by name elsewhere
        raise
    return plan.allocations.set_index("unit_id")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios())
def test_exploration_keeps_its_share_and_every_limit(p: dict) -> None:
    plain = _plan(p, Exploration("none"))
    voi = _plan(p, Exploration("voi", max_share=p["share"], horizon_days=30))
    limits: Limits = p["limits"]
    current = p["units"].set_index("unit_id")["current_budget"]
    spend = voi["proposed_budget"]
    moved = (spend - plain["proposed_budget"]).abs()
    note(f"explored {voi.index[voi['exploration']].tolist()}, moved {moved.sum():.4f}")
    total = limits.total_budget or 0.0
    # Only flagged units move away from the plan, by at most the share in all.
    assert (moved[~voi["exploration"]] <= TOL * current[~voi["exploration"]]).all()
    assert moved.sum() <= p["share"] * total + TOL * total
    # Every limit still holds.
    assert spend.sum() <= total * (1 + 1e-9)
    assert (spend >= current * (1 - limits.max_change) - TOL).all()
    assert (spend <= current * (1 + limits.max_change) + TOL).all()
    for limit in limits.spend_limits:
        if limit.scope == "unit":
            assert limit.min_daily is None or spend[limit.key] >= limit.min_daily - TOL
            assert limit.max_daily is None or spend[limit.key] <= limit.max_daily + TOL
        else:
            group = spend[voi["account_id"] == limit.key].sum()
            assert limit.max_daily is None or group <= limit.max_daily * (1 + 1e-9)
    for lock in limits.locks:
        assert abs(spend[lock.key] - current[lock.key]) <= TOL
        assert not voi.loc[lock.key, "exploration"]
    # The total spends what the plan spent: exploration moves money, it adds none.
    assert abs(spend.sum() - plain["proposed_budget"].sum()) <= TOL * total
    assert voi.loc[voi["exploration"], "reason"].str.startswith("exploration: ").all()


def test_a_guessed_curve_is_explored_and_a_known_one_is_not() -> None:
    n = 6
    gain, half = np.full(n, 10.0), np.full(n, 100.0)
    sd = np.array([0.9, 0.9, 0.02, 0.02, 0.02, 0.02])  # u0, u1: spend never varied
    curves = _curves(gain, half, sd, ("meta",) * n, seed=4)
    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "network": "meta",
                          "account_id": "a", "current_budget": 100.0})
    plan = optimize_budgets(units, curves, curves, Limits(max_change=0.2),
                            exploration=Exploration("voi", max_share=0.1)).allocations
    explored = plan.loc[plan["exploration"], "unit_id"].tolist()
    assert explored and set(explored) <= {"u0", "u1", "u2", "u3", "u4", "u5"}
    assert {"u0", "u1"} & set(explored)
    moved = (plan["proposed_budget"] - 100.0).abs().sum()
    assert 0 < moved <= 0.1 * 600 + 1e-6
    assert "to learn its curve" in plan.loc[plan["exploration"], "reason"].iloc[0]
    none = optimize_budgets(units, curves, curves, Limits(max_change=0.2),
                            exploration=Exploration("none")).allocations
    assert not none["exploration"].any()
