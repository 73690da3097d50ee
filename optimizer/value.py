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
    # Through object arrays: iterating a pandas string column is ten times slower.
    ids = tuple(units["unit_id"].astype(str).to_numpy(dtype=object))
    kind_of = units["result_kind"].astype(str).to_numpy(dtype=object)
    kinds = tuple(kind_of)
    fx = (units["fx"].to_numpy(dtype=float) if "fx" in units.columns
          else np.ones(len(ids)))
    present = list(dict.fromkeys(kinds))
    for kind in present:
        if kind not in RESULT_KINDS:
            raise InvalidInputError(f"unknown result kind {kind!r}; one of {RESULT_KINDS}")
        if kind not in curves:
            raise InvalidInputError(f"no fitted {kind} curves for the units that buy {kind}")
        worth = values.get(kind)
        if worth is None or not np.isfinite(worth) or worth < 0:
            raise InvalidInputError(f"no value per {_result_name(kind)} for the units that "
                                    f"buy {kind} (got {worth!r})")
    own = _mixed(ids, kinds, curves)
    per = np.zeros(len(ids))
    for kind in present:
        per[kind_of == kind] = values[kind] / PER_RESULTS.get(kind, 1.0)
    # Revenue is money in the unit's currency already: its worth is a plain multiplier.
    scale = np.where(kind_of == "revenue", per, per / fx)
    return ResultCurves(ids, kinds, own, _scaled(own, scale), scale)


def _mixed(ids: tuple[str, ...], kinds: tuple[str, ...],
           curves: Mapping[str, CurveSet]) -> CurveSet:
    """One CurveSet whose row i is unit i's curve of its own kind.

    Day-of-week factors are per network and result: the networks are keyed
    "network/kind" so a unit keeps the factors fitted on its own result.
    """
    n = len(ids)
    kind_of = np.asarray(kinds, dtype=object)
    present = list(dict.fromkeys(kinds))
    id_of = np.asarray(ids, dtype=object)
    # Where each kind's units sit in the output, and their rows in that kind's curves.
    places = {}
    for k in present:
        pos = np.flatnonzero(kind_of == k)
        places[k] = (pos, curves[k].index_of(id_of[pos].tolist()))
    width = min((curves[k].draws_gain.shape[1] for k in present), default=0)

    def pick(attr: str, dtype: type = float) -> np.ndarray:
        out: np.ndarray = np.empty(n, dtype=dtype)
        for k, (pos, rows) in places.items():
            out[pos] = getattr(curves[k], attr)[rows]
        return out

    def pick_draws(attr: str) -> np.ndarray:
        out = np.empty((n, width))
        for k, (pos, rows) in places.items():
            out[pos] = getattr(curves[k], attr)[rows, :width]
        return out

    network = np.empty(n, dtype=object)
    frames = []
    for k, (pos, rows) in places.items():
        names = np.asarray(curves[k].network, dtype=object)[rows]
        network[pos] = [f"{name}/{k}" for name in names]
        frame = curves[k].weekday_factor.copy()
        frame.index = [f"{name}/{k}" for name in frame.index]
        frames.append(frame)
    weekday = pd.concat(frames) if frames else pd.DataFrame(columns=range(7))
    return CurveSet(
        unit_ids=ids, network=tuple(network), metric="result", gain=pick("gain"),
        half_spend=pick("half_spend"), gain_sd=pick("gain_sd"),
        log_half_spend_sd=pick("log_half_spend_sd"), level_sd=pick("level_sd"),
        typical_spend=pick("typical_spend"), n_days=pick("n_days"),
        identified=pick("identified", bool), draws_gain=pick_draws("draws_gain"),
        draws_half_spend=pick_draws("draws_half_spend"), weekday_factor=weekday,
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
