"""Monthly plans the run follows (``[optimizer] follow_plans``).

Each network's and account's plan for the month of the run becomes a daily range for the sum
of that scope's budgets (:func:`optimizer.pacing.plan_band`): what the plan has left after the
month-to-date spend (pacing's, so the two agree), spread over the days left with today and
divided by the scope's delivery ratio, +- ``plan_band``. Campaigns still trade budget inside
the scope; money moves between scopes only within their ranges. A range merges with a cap of
the same scope (the cap wins where they disagree). Plans are in the reporting currency, as
account and network limits are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.config import Settings
from campaigns.errors import FxRateMissingError
from campaigns.models import BudgetPlan
from campaigns.optimization.inputs import PortfolioData
from campaigns.reports.pacing import pacing_report
from campaigns.scopes import account_key
from optimizer import Limits, SpendLimit
from optimizer.pacing import minimums_share, month_bounds, plan_band

PLAN_SCOPES = ("network", "account")


@dataclass(frozen=True)
class PlanBand:
    """One plan's daily range for its scope's budgets, in the reporting currency."""

    scope: Literal["network", "account"]
    scope_key: str
    planned: Decimal
    spend_to_date: Decimal
    days_left: int
    delivery_ratio: float | None
    current: float  # the scope's budgets today, summed
    low: float
    high: float

    def to_json(self, followed: str, share: float = 1.0) -> dict[str, Any]:
        """``share``: the part of ``daily_low`` the run held (the plans' minimums cut to fit
        the total: :func:`with_plans`)."""
        return {"scope": self.scope, "scope_key": self.scope_key,
                "planned": float(self.planned), "spend_to_date": float(self.spend_to_date),
                "days_left": self.days_left, "delivery_ratio": self.delivery_ratio,
                "current": round(self.current, 2), "daily_low": round(self.low, 2),
                "daily_high": round(self.high, 2), "minimum_share": round(share, 6),
                "followed": followed}


def plan_bands(session: Session, settings: Settings, data: PortfolioData, today: dt.date,
               max_change: float) -> tuple[list[PlanBand], list[dict[str, Any]]]:
    """The ranges of the network and account plans for ``today``'s month whose scope holds
    a budget of the run, and the plans that could not be read, each saying why (pacing
    missing an FX rate: the run goes on without them)."""
    month, month_end = month_bounds(today)
    plans = session.scalars(select(BudgetPlan).where(
        col(BudgetPlan.portfolio_id) == data.portfolio.id, col(BudgetPlan.month) == month,
        col(BudgetPlan.scope).in_(PLAN_SCOPES))).all()
    if not plans:
        return [], []
    current: dict[tuple[str, str], float] = defaultdict(float)
    base = data.base_budgets or [u.current_budget for u in data.units]
    for unit, budget in zip(data.units, base, strict=True):
        amount = float(budget) * unit.fx
        current[("network", unit.network)] += amount
        current[("account", account_key(unit.account))] += amount
    # Pacing as of yesterday: the same month-to-date spend and delivery ratios it shows. On a
    # month's first day yesterday is last month's: nothing spent yet, last month's ratios.
    try:
        report = pacing_report(session, portfolio=data.portfolio.name,
                               settings=settings.pacing, as_of=today - dt.timedelta(days=1))
    except FxRateMissingError as e:
        return [], [{"scope": p.scope, "scope_key": p.scope_key,
                     "planned": float(p.planned_spend), "followed": f"no: {e.message}"}
                    for p in plans]
    same_month = report.month == month
    paced = {(s.scope, s.scope_key): s for s in report.scopes}
    days_left = (month_end - today).days + 1
    out = []
    for plan in plans:
        key = (plan.scope, plan.scope_key)
        if key not in current:
            continue
        s = paced.get(key)
        spent = s.amounts.spend_to_date if s is not None and same_month else Decimal(0)
        ratio = s.result.delivery_ratio if s is not None else None
        band = plan_band(float(plan.planned_spend), float(spent), days_left, ratio,
                         current[key], band=settings.optimizer.plan_band, max_change=max_change)
        if band is None:
            continue
        scope: Literal["network", "account"] = "network" if plan.scope == "network" \
            else "account"
        out.append(PlanBand(scope, plan.scope_key, Decimal(plan.planned_spend), spent,
                            days_left, ratio, current[key], *band))
    return out, []


def with_plans(limits: Limits, bands: list[PlanBand], total: float, *,
               minimums: bool = True) -> Limits:
    """``limits`` with each band as its scope's daily min (unless ``minimums`` is false) and
    max, merged with that scope's cap: the cap's own range wins where they disagree. When the
    networks' or accounts' minimums add up to more than the ``total``, each is cut to the same
    share of itself (:func:`optimizer.pacing.minimums_share`)."""
    if not bands:
        return limits
    share = minimums_share({(b.scope, b.scope_key): b.low for b in bands}, total)
    caps = {(sl.scope, sl.key): sl for sl in limits.spend_limits}
    merged = dict(caps)
    for b in bands:
        cap = caps.get((b.scope, b.scope_key))
        c_low = cap.min_daily if cap is not None and cap.min_daily is not None else 0.0
        c_high = cap.max_daily if cap is not None and cap.max_daily is not None \
            else float("inf")
        low = max(c_low, min(b.low * share, c_high)) if minimums else (
            cap.min_daily if cap is not None else None)
        high = min(c_high, max(b.high, c_low))
        merged[(b.scope, b.scope_key)] = SpendLimit(
            b.scope, b.scope_key, low, high, cap.max_change if cap is not None else None)
    return replace(limits, spend_limits=tuple(merged.values()))
