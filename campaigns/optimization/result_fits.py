"""The value objective's inputs: a curve per result kind, fitted on that result's history.

Each campaign's curve is fitted on the result it buys (conversions, revenue, reach,
engagement or video views), over the units that buy it only, so a network's reach per euro
is never pooled with its conversions per euro. Days a platform did not report the result
(NULL) are left out of that fit rather than read as zero.

Reach per day is the platform's daily reach: people reached that day. Days do not add up
to a period's reach (the same person is reached on several days), so the curve estimates
people reached on a day at a budget, and what a move buys in reach is an estimate.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from campaigns.config import ResultValues
from campaigns.errors import ValidationError
from campaigns.optimization.inputs import PortfolioData
from optimizer import CurveSet, InvalidInputError, ResultCurves, result_curves

# Revenue is money already: unless a portfolio says otherwise, a unit of it is worth one.
DEFAULT_REVENUE_VALUE = 1.0


def value_inputs(
    data: PortfolioData, units: pd.DataFrame, fits: dict[str, CurveSet], values: ResultValues,
    *, fit: Any,
) -> ResultCurves:
    """The units' value curves. ``fits`` has the conversion and revenue curves of every unit;
    ``fit(history, metric, units)`` fits one more metric. Refuses, saying what to set, a
    result without a value or without history."""
    worth = values.model_dump()
    if worth["revenue"] is None:
        worth["revenue"] = DEFAULT_REVENUE_VALUE
    present = list(dict.fromkeys(units["result_kind"]))
    missing = [k for k in present if worth.get(k) is None]
    if missing:
        examples = {"reach": "4.0 (per 1,000 people reached)", "engagement": "0.05",
                    "video_views": "0.02", "conversions": "30.0"}
        keys = ", ".join(f"{k} = {examples.get(k, '1.0')}" for k in missing)
        raise ValidationError(
            f"the value objective needs a value for {' and '.join(missing)}: campaigns of "
            f"portfolio {data.portfolio.name!r} buy {'them' if len(missing) > 1 else 'it'}; "
            f"set [optimizer.values] {keys} (or "
            "the portfolio's values), or give those campaigns another result "
            "(budgetpilot campaigns set-result)"
        )
    curves = dict(fits)
    for kind in present:
        if kind in curves:
            continue
        members = units[units["result_kind"] == kind]
        history = data.history[data.history["unit_id"].isin(members["unit_id"])]
        history = history[history[kind].notna()]
        try:
            curves[kind] = fit(history, kind, members)
        except InvalidInputError as e:
            names = ", ".join(members["unit_id"].head(3)) + (
                ", ..." if len(members) > 3 else "")
            raise ValidationError(
                f"no {kind} history to fit the curves of the campaigns that buy {kind} "
                f"({names}): {e}; sync them (the platform reports {kind} per day) or give "
                "them another result (budgetpilot campaigns set-result)"
            ) from e
    try:
        return result_curves(units, curves, worth)
    except InvalidInputError as e:
        raise ValidationError(str(e)) from e
