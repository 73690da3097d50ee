"""Monthly plans the run follows (``[optimizer] follow_plans``).

Each network's and account's plan for the month of the run becomes a daily range for the sum
of that scope's budgets (:func:`optimizer.pacing.plan_band`): what the plan has left after the
month-to-date spend (pacing's, so the two agree), spread over the days left with today and
divided by the scope's delivery ratio, +- ``plan_band``. Campaigns still trade budget inside
the scope; money moves between scopes only within their ranges. Each range is a target of
the optimiser (``Limits.targets``, :mod:`optimizer.scope_targets`): kept as far as the caps,
locks, max change and total allow, never a conflict. Plans are in the reporting currency, as
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
from optimizer.pacing import month_bounds, plan_band

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

    def to_json(self, followed: str, held: tuple[float, float]) -> dict[str, Any]:
        """``held``: the range the run kept the scope to (the plan's, or narrower where the
        caps, locks, max change or total would not allow it)."""
        return {"scope": self.scope, "scope_key": self.scope_key,
                "planned": float(self.planned), "spend_to_date": float(self.spend_to_date),
                "days_left": self.days_left, "delivery_ratio": self.delivery_ratio,
                "current": round(self.current, 2), "daily_low": round(self.low, 2),
                "daily_high": round(self.high, 2), "held_low": round(held[0], 2),
                "held_high": round(held[1], 2), "followed": followed}


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


def with_plans(limits: Limits, bands: list[PlanBand]) -> Limits:
    """``limits`` with each band as a target of its scope: kept as far as the other limits
    (caps, locks, the max change, the total) allow (:mod:`optimizer.scope_targets`)."""
    if not bands:
        return limits
    return replace(limits, targets=tuple(
        SpendLimit(b.scope, b.scope_key, b.low, b.high) for b in bands))


def plans_json(bands: list[PlanBand], held: dict[tuple[str, str], tuple[float, float]],
               unread: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each plan's range, the range the run held (``held``: the allocation's) and whether
    that lies within the plan's; then the plans that could not be read."""
    out = []
    for b in bands:
        low, high = held.get((b.scope, b.scope_key), (b.low, b.high))
        # within the plan's range wherever the run puts the scope in what it held (a run
        # reaches less of the range than it allows: the max change)
        inside = low >= b.low - 0.005 and high <= b.high + 0.005
        out.append(b.to_json("yes" if inside else "as far as the other limits allow",
                             (low, high)))
    return out + unread
