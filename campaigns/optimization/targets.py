"""Where a run would put each budget without the max-change limit: its targets.

A run moves each budget at most ``max_change`` towards where its curves want it; the next
runs go on from there. Pacing's forecast follows that planned path (the targets, the limit
and the runs' cadence: :mod:`campaigns.reports.budgets`) instead of holding today's budgets
for the rest of the month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from campaigns.optimization.inputs import PortfolioData
from optimizer import Exploration, ResultCurves, optimize_budgets
from optimizer.errors import OptimizerError

UNLIMITED = 4.0  # a max change no run reaches: up to 5x or down to nothing


def run_targets(data: PortfolioData, fits: dict[str, Any], limits: Any, objective: str,
                exploration: Exploration, today: dt.date, min_change: float,
                results: ResultCurves | None = None) -> dict[str, Any] | None:
    """``{"min_change", "max_change", "budgets": [[account id, level, target, amount]]}``
    (amounts in the unit's currency); ``None`` when the unlimited problem has no solution.
    The value objective's targets price the results with the run's own ``results`` curves."""
    if not data.units or (objective == "value" and results is None):
        return None
    try:
        plan = optimize_budgets(
            data.frame(), fits["conversions"], fits["revenue"],
            replace(limits, max_change=UNLIMITED), objective=objective,
            exploration=exploration, weekday=(today + dt.timedelta(days=1)).weekday(),
            currency=data.portfolio.reporting_currency, min_change=min_change,
            results=results)
    except OptimizerError:
        return None
    amounts = plan.allocations["proposed_budget"].to_numpy(dtype=float)
    return {"min_change": min_change, "max_change": float(limits.max_change),
            "budgets": [[u.account.id, u.level, u.target_external_id, round(float(a), 6)]
                        for u, a in zip(data.units, amounts, strict=True)]}
