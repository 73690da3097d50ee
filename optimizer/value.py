"""The value objective: each unit judged by its own result, all results in one currency.

A portfolio mixes campaigns that buy different things: conversions, revenue, people
reached, engagements, video views. Each unit's curve is fitted on its own result, and the
manager says what one result is worth in the reporting currency (4.00 per 1,000 people
reached, 0.05 per engagement, 30.00 per conversion, 1.00 per unit of revenue). The value
curve of a unit is its result curve times that worth, so the allocation compares a euro
spent on reach with a euro spent on conversions by what it is worth, and its marginal
return is value per unit of spend (like a ROAS).

Value curves are built like revenue curves: the gain in each unit's own currency (a count
result's worth divided by the unit's FX factor), so that the optimiser's FX handling for
revenue applies unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.curves import CurveSet
from optimizer.errors import InvalidInputError
from optimizer.feasibility import format_money

RESULT_KINDS = ("conversions", "revenue", "reach", "engagement", "video_views")
# Values are given per this many results (reach is priced per 1,000 people, as CPMs are).
PER_RESULTS = {"reach": 1000.0}


@dataclass(frozen=True)
class ResultCurves:
    """Per unit (in `unit_ids` order): the result it buys, its own result curve, and the
    value of one result in the unit's currency (`scale`)."""

    unit_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    own: CurveSet  # each unit's curve of its own result
    value: CurveSet  # own times scale: value per day, in the unit's currency
    scale: np.ndarray

    def rows(self, unit_ids: Sequence[str]) -> np.ndarray:
        return self.own.index_of(list(unit_ids))


def result_curves(
    units: pd.DataFrame, curves: Mapping[str, CurveSet], values: Mapping[str, float],
) -> ResultCurves:
    """The value curves of `units` (unit_id, network, result_kind, optional fx).

    `curves` holds a fitted CurveSet per result kind present (fitted on that result's
    history); `values` the worth of one result (per 1,000 for reach) in the reporting
    currency. Raises InvalidInputError naming a kind without curves or value.
    """
    if "result_kind" not in units.columns:
        raise InvalidInputError("units lack column: result_kind")
    ids = tuple(units["unit_id"].astype(str))
    kinds = tuple(units["result_kind"].astype(str))
    fx = (units["fx"].to_numpy(dtype=float) if "fx" in units.columns
          else np.ones(len(ids)))
    for kind in dict.fromkeys(kinds):
        if kind not in RESULT_KINDS:
            raise InvalidInputError(f"unknown result kind {kind!r}; one of {RESULT_KINDS}")
        if kind not in curves:
            raise InvalidInputError(f"no fitted {kind} curves for the units that buy {kind}")
        worth = values.get(kind)
        if worth is None or not np.isfinite(worth) or worth < 0:
            raise InvalidInputError(f"no value per {_result_name(kind)} for the units that "
                                    f"buy {kind} (got {worth!r})")
    own = _mixed(ids, kinds, curves)
    per = np.asarray([values[k] / PER_RESULTS.get(k, 1.0) for k in kinds], dtype=float)
    # Revenue is money in the unit's currency already: its worth is a plain multiplier.
    is_money = np.asarray([k == "revenue" for k in kinds])
    scale = np.where(is_money, per, per / fx)
    return ResultCurves(ids, kinds, own, _scaled(own, scale), scale)


def _mixed(ids: tuple[str, ...], kinds: tuple[str, ...],
           curves: Mapping[str, CurveSet]) -> CurveSet:
    """One CurveSet whose row i is unit i's curve of its own kind.

    Day-of-week factors are per network and result: the networks are keyed
    "network/kind" so a unit keeps the factors fitted on its own result.
    """
    parts = {k: curves[k].index_of([u for u, kk in zip(ids, kinds, strict=True) if kk == k])
             for k in dict.fromkeys(kinds)}
    take = {k: iter(rows) for k, rows in parts.items()}
    src = [(k, int(next(take[k]))) for k in kinds]

    def pick(attr: str) -> np.ndarray:
        return np.asarray([getattr(curves[k], attr)[r] for k, r in src], dtype=float)

    def pick_draws(attr: str) -> np.ndarray:
        width = min(getattr(curves[k], attr).shape[1] for k in parts)
        if not src:
            return np.zeros((0, width))
        return np.stack([getattr(curves[k], attr)[r, :width] for k, r in src])

    frames = []
    for k in parts:
        frame = curves[k].weekday_factor.copy()
        frame.index = [f"{n}/{k}" for n in frame.index]
        frames.append(frame)
    weekday = pd.concat(frames) if frames else pd.DataFrame(columns=range(7))
    network = tuple(f"{curves[k].network[r]}/{k}" for k, r in src)
    return CurveSet(
        unit_ids=ids, network=network, metric="result", gain=pick("gain"),
        half_spend=pick("half_spend"), gain_sd=pick("gain_sd"),
        log_half_spend_sd=pick("log_half_spend_sd"), level_sd=pick("level_sd"),
        typical_spend=pick("typical_spend"), n_days=pick("n_days"),
        identified=np.asarray([bool(curves[k].identified[r]) for k, r in src], dtype=bool),
        draws_gain=pick_draws("draws_gain"), draws_half_spend=pick_draws("draws_half_spend"),
        weekday_factor=weekday,
    )


def _scaled(own: CurveSet, scale: np.ndarray) -> CurveSet:
    # A result worth nothing still has a curve (the allocation needs a positive gain): the
    # unit then gets what its limits force on it and no more.
    return CurveSet(
        unit_ids=own.unit_ids, network=own.network, metric="value",
        gain=np.maximum(own.gain * scale, 1e-12), half_spend=own.half_spend,
        gain_sd=own.gain_sd * scale,
        log_half_spend_sd=own.log_half_spend_sd, level_sd=own.level_sd,
        typical_spend=own.typical_spend, n_days=own.n_days, identified=own.identified,
        draws_gain=own.draws_gain * scale[:, None], draws_half_spend=own.draws_half_spend,
        weekday_factor=own.weekday_factor,
    )


def _result_name(kind: str) -> str:
    return {"reach": "1,000 people reached", "engagement": "engagement",
            "video_views": "video view", "conversions": "conversion",
            "revenue": "unit of revenue"}.get(kind, kind)


def describe_buy(kind: str, amount: float, currency: str) -> str:
    """A day's amount of a result, in words: "4,200 people reached a day (estimate)"."""
    amount = abs(amount)
    if kind == "revenue":
        return f"{format_money(amount, currency)} revenue a day"
    if kind == "conversions":
        return f"{amount:,.1f} conversions a day"
    if kind == "reach":
        # Daily reach does not add up to a period's reach: the figure is an estimate.
        return f"{amount:,.0f} people reached a day (estimate)"
    if kind == "engagement":
        return f"{amount:,.0f} engagements a day"
    return f"{amount:,.0f} video views a day"
