"""One binding limit and one plain-language reason per unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.bounds import UnitBounds
from optimizer.feasibility import format_money

_REL = 1e-7


@dataclass(frozen=True)
class ExplainInput:
    """Everything the reasons need, per unit unless noted (money in reporting currency)."""

    objective: str
    currency: str
    bounds: UnitBounds
    proposed: np.ndarray
    account: tuple[str, ...]
    network: tuple[str, ...]
    account_surcharge: np.ndarray
    network_surcharge: np.ndarray
    marginal_cpa: np.ndarray
    marginal_roas: np.ndarray
    price_floor_binds: bool
    target_cpa: float | None
    min_roas: float | None
    # Value objective: the value (reporting currency) the next unit of spend buys.
    marginal_value: np.ndarray | None = None
    # Scopes whose min/max is a target (`Limits.targets`, a plan): ("account" | "network", key)
    targets: frozenset[tuple[str, str]] = frozenset()


def explain(x: ExplainInput) -> tuple[list[str | None], list[str]]:
    binding: list[str | None] = []
    reasons: list[str] = []
    for i in range(x.bounds.current.size):
        limit, reason = _one(x, i)
        binding.append(limit)
        reasons.append(reason)
    return binding, reasons


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= _REL * max(abs(a), abs(b), 1.0)


def _one(x: ExplainInput, i: int) -> tuple[str | None, str]:
    cur = x.currency
    if x.bounds.lock_label[i]:
        held = x.bounds.lock_limit[i] if x.bounds.lock_limit else "lock"
        return held, f"held: {x.bounds.lock_label[i]}"
    s = x.proposed[i]
    fixed = _near(x.bounds.lower[i], x.bounds.upper[i])
    if _near(s, x.bounds.upper[i]) and (not fixed or s >= x.bounds.current[i]):
        return _at_upper(x, i)
    if _near(s, x.bounds.lower[i]):
        limit, reason = _at_lower(x, i)
        return limit, reason + _target_note(x, i)
    account_plan = ("account", x.account[i]) in x.targets
    network_plan = ("network", x.network[i]) in x.targets
    if x.account_surcharge[i] > 0:
        return ("plan_max", f"held to account {x.account[i]}'s plan") if account_plan \
            else ("account_max", f"capped by account {x.account[i]} max")
    if x.account_surcharge[i] < 0:
        return ("plan_min", f"raised to keep account {x.account[i]} on its plan") \
            if account_plan else \
            ("account_min", f"raised to meet account {x.account[i]} minimum")
    if x.network_surcharge[i] > 0:
        return ("plan_max", f"held to the {x.network[i]} network's plan") if network_plan \
            else ("network_max", f"capped by {x.network[i]} network max")
    if x.network_surcharge[i] < 0:
        return ("plan_min", f"raised to keep the {x.network[i]} network on its plan") \
            if network_plan else \
            ("network_min", f"raised to meet {x.network[i]} network minimum")
    if x.price_floor_binds and x.target_cpa is not None and x.objective == "conversions":
        return "target_cpa", (
            f"marginal CPA reaches target {format_money(x.target_cpa, cur)}; "
            "more spend would exceed it"
        )
    if x.price_floor_binds and x.min_roas is not None and x.objective == "revenue":
        return "min_roas", f"marginal ROAS reaches minimum {x.min_roas:.2f}"
    now = x.bounds.current[i]
    verb = "increased" if s > now else "decreased" if s < now else "kept"
    return None, f"{verb} to balance returns: {_marginal(x, i)}"


def _at_upper(x: ExplainInput, i: int) -> tuple[str | None, str]:
    hi = x.bounds.upper[i]
    if _near(hi, x.bounds.target_high[i]) and x.bounds.target_high[i] < x.bounds.unit_max[i]:
        if x.objective == "revenue" and x.target_cpa is not None:
            target = format_money(x.target_cpa, x.currency)
            return "target_cpa", f"marginal CPA reaches target {target}"
        return "min_roas", f"marginal ROAS reaches minimum {x.min_roas or 0:.2f}"
    if _near(hi, x.bounds.change_high[i]) and x.bounds.change_high[i] <= x.bounds.unit_max[i]:
        return "max_change", f"max change +{x.bounds.max_change[i]:.0%} reached"
    return "unit_max", f"at campaign max {format_money(hi, x.currency)}"


def _at_lower(x: ExplainInput, i: int) -> tuple[str | None, str]:
    lo = x.bounds.lower[i]
    if _near(lo, x.bounds.change_low[i]) and x.bounds.change_low[i] >= x.bounds.unit_min[i]:
        return "max_change", f"max change -{x.bounds.max_change[i]:.0%} reached"
    if lo <= 0:
        return "unit_min", "paused: spend returns too little"
    return "unit_min", f"at campaign minimum {format_money(lo, x.currency)}"


def _target_note(x: ExplainInput, i: int) -> str:
    if x.objective == "value":  # targets on conversions and revenue do not bind it
        return ""
    if x.target_cpa is not None and x.marginal_cpa[i] > x.target_cpa:
        return (
            f" (marginal CPA {format_money(x.marginal_cpa[i], x.currency)} above target "
            f"{format_money(x.target_cpa, x.currency)})"
        )
    if x.min_roas is not None and x.marginal_roas[i] < x.min_roas:
        return f" (marginal ROAS {x.marginal_roas[i]:.2f} below minimum {x.min_roas:.2f})"
    return ""


def _marginal(x: ExplainInput, i: int) -> str:
    if x.objective == "value" and x.marginal_value is not None:
        per = f"{x.currency} per {x.currency} spent" if x.currency else "per unit spent"
        return f"marginal value {x.marginal_value[i]:.2f} {per}"
    if x.objective == "revenue":
        return f"marginal ROAS {x.marginal_roas[i]:.2f}"
    return f"marginal CPA {format_money(x.marginal_cpa[i], x.currency)}"


def exploration_reason(up: bool, value: float, cost: float, horizon_days: float,
                       objective: str, currency: str) -> str:
    """Why a unit moves for exploration: what the move should teach, against its cost.
    `up`: it gets more than balancing returns alone would give it (else less)."""
    verb = "more" if up else "less"
    unit = "conversions" if objective == "conversions" else (currency or "value")
    return (f"exploration: {verb} than balancing returns alone gives, to learn its curve; "
            f"what it teaches is worth about "
            f"{value:.2f} {unit} over {horizon_days:g} days, the move costs {cost:.2f} "
            f"{unit} today")
