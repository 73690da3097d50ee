"""Per-unit spend bounds from limits, max change, locks and cross-metric targets.

Precedence, from strongest: a lock holds the current budget; a unit's explicit min/max
beats the max change (a manager's cap is a rule, the max change is a smoothing guardrail);
a target on the other metric than the objective (target CPA while maximising revenue, or
minimum ROAS while maximising conversions) lowers the upper bound but never below the
lower one. A target on the objective's own metric is not a bound: it becomes the price
floor of the whole allocation (see `allocate.py`), so network or account minimums can still
push spend past it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.constraints import Limits, Scope
from optimizer.curves import UnitCurves, spend_at_marginal


@dataclass(frozen=True)
class UnitBounds:
    """All amounts in the reporting currency, one entry per unit."""

    current: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    change_low: np.ndarray
    change_high: np.ndarray
    unit_min: np.ndarray
    unit_max: np.ndarray
    target_high: np.ndarray
    max_change: np.ndarray
    lock_label: tuple[str, ...]
    lock_limit: tuple[str, ...] = ()  # the binding limit a lock names ("lock" by default)


def unit_bounds(
    frame: pd.DataFrame, limits: Limits, fx: np.ndarray, mean: UnitCurves, objective: str
) -> UnitBounds:
    current = frame["current_budget"].to_numpy(dtype=float) * fx
    # The max change is a step per platform day: measured from the day's first budget, so
    # several runs on one day never add up to more than one step.
    delta = _max_change(frame, limits)
    change_low = current * np.maximum(1.0 - delta, 0.0)
    change_high = current * (1.0 + delta)
    if "base_budget" in frame.columns:
        base = frame["base_budget"].to_numpy(dtype=float) * fx
        # One step from the current budget and from the day's first budget, whichever is
        # tighter. A budget already outside the day's band (a hard stop lowered it) is held
        # where it is rather than pulled back into the band on the same day.
        change_low = np.maximum(change_low, base * np.maximum(1.0 - delta, 0.0))
        change_high = np.minimum(change_high, base * (1.0 + delta))
        outside = change_low > change_high
        change_low = np.where(outside, current, change_low)
        change_high = np.where(outside, current, change_high)
    unit_limits = limits.for_scope("unit")
    unit_min = _unit_value(frame, unit_limits, "min_daily", 0.0) * fx
    unit_max = _unit_value(frame, unit_limits, "max_daily", np.inf) * fx
    # A unit's explicit min/max wins over the max change; an inverted min/max is left for
    # the feasibility check to name.
    lower = np.minimum(np.maximum(change_low, unit_min), np.maximum(unit_max, unit_min))
    upper = np.maximum(np.minimum(change_high, unit_max), np.minimum(unit_min, unit_max))
    lower = np.where(unit_min > unit_max, unit_min, lower)
    upper = np.where(unit_min > unit_max, unit_max, upper)
    target_high = _target_high(limits, mean, objective)
    upper = np.where(upper > lower, np.maximum(np.minimum(upper, target_high), lower), upper)
    labels, lock_limits = _lock_labels(frame, limits)
    locked = np.asarray([bool(label) for label in labels])
    lower = np.where(locked, current, lower)
    upper = np.where(locked, current, upper)
    return UnitBounds(
        current,
        lower,
        upper,
        change_low,
        change_high,
        unit_min,
        unit_max,
        target_high,
        delta,
        labels,
        lock_limits,
    )


def _max_change(frame: pd.DataFrame, limits: Limits) -> np.ndarray:
    delta = np.full(len(frame), float(limits.max_change))
    # Narrowest last: a unit's own limit overrides its account's, which overrides its network's.
    order: tuple[tuple[Scope, str], ...] = (
        ("network", "network"), ("account", "account_id"), ("unit", "unit_id"))
    for scope, column in order:
        by_key = {k: v.max_change for k, v in limits.for_scope(scope).items()
                  if v.max_change is not None}
        if not by_key:
            continue
        # A plain lookup, not Series.map: map turns the misses into NaN once any key has a
        # value, and a NaN max change made every bound infinite.
        own = [by_key.get(key) for key in frame[column]]
        delta = np.asarray([d if v is None else float(v) for d, v in zip(delta, own, strict=True)])
    return delta.astype(float)


def _unit_value(frame: pd.DataFrame, unit_limits: dict, attr: str, default: float) -> np.ndarray:
    values = [getattr(unit_limits[u], attr) if u in unit_limits else None for u in frame["unit_id"]]
    return np.asarray([default if v is None else float(v) for v in values], dtype=float)


def _target_high(limits: Limits, mean: UnitCurves, objective: str) -> np.ndarray:
    high = np.full(mean.conv_gain.shape, np.inf)
    if objective == "revenue" and limits.target_cpa is not None:
        high = spend_at_marginal(1.0 / limits.target_cpa, mean.conv_gain, mean.conv_half)
    if objective == "conversions" and limits.min_roas is not None:
        high = spend_at_marginal(limits.min_roas, mean.rev_gain, mean.rev_half)
    return high


def _lock_labels(frame: pd.DataFrame, limits: Limits) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Per unit, why it is held ("" when it is not) and the binding limit that names."""
    units, accounts = limits.unit_holds(), limits.locked("account")
    networks = limits.locked("network")
    labels, names = [], []
    for unit, account, network in zip(
        frame["unit_id"], frame["account_id"], frame["network"], strict=True
    ):
        lock = units.get(unit)
        name = "lock"
        if lock is not None and not lock.reason:
            label = "locked by manager"
        elif account in accounts:
            label = f"account {account} locked by manager"
        elif network in networks:
            label = f"{network} network locked by manager"
        elif lock is not None:
            label, name = lock.reason, lock.limit
        else:
            label = ""
        labels.append(label)
        names.append(name)
    return tuple(labels), tuple(names)
