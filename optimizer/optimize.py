"""Propose tomorrow's budgets: the one entry point services call.

`optimize_budgets` takes the units (one row each), their fitted curves and the limits,
builds the exact allocation problem in the reporting currency, solves it, and returns a
`ProposedAllocation`: per-unit proposals converted back to each unit's currency, expected results
at current and proposed budgets, a reason per unit, and the optimality certificate.

When the total cannot be spent usefully - every unit is at its maximum, or the next unit
of spend would cost more than the target CPA / return less than the minimum ROAS - the
allocation spends less than the total and says so in `unspent_reason`, rather than pushing money
into spend that breaks the manager's targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from optimizer.allocate import AllocationProblem, AllocationSolution, solve_allocation
from optimizer.bounds import UnitBounds, unit_bounds
from optimizer.confidence import move_confidence, portfolio_price
from optimizer.constraints import Limits
from optimizer.curves import CurveSet, UnitCurves, marginal, response
from optimizer.edits import (
    NEGLIGIBLE,
    NOT_WORTH_COST,
    UNLIKELY,
    EditPolicy,
    held_reason,
    money_gain,
    unworthy,
)
from optimizer.errors import InvalidInputError
from optimizer.explain import ExplainInput, explain
from optimizer.exploration import Exploration, exploring_curves
from optimizer.negligible import hold_moves, moved_units, negligible_moves

OBJECTIVES = ("conversions", "revenue")


@dataclass(frozen=True)
class Outcome:
    conversions: float
    revenue: float
    spend: float


@dataclass(frozen=True)
class Certificate:
    """Proof of optimality for the optimised (exploration) curves: gap ~ 0 means optimal."""

    duality_gap: float
    relative_gap: float
    max_violation: float
    price: float


@dataclass(frozen=True)
class ProposedAllocation:
    objective: str
    currency: str
    exploration: str
    total_budget: float
    expected: Outcome
    baseline: Outcome
    unspent: float
    unspent_reason: str | None
    allocations: pd.DataFrame
    certificate: Certificate
    # The problem as finally solved (negligible moves held): the limits rounding must keep.
    problem: AllocationProblem | None = field(default=None, compare=False)


def optimize_budgets(
    units: pd.DataFrame,
    conversions: CurveSet,
    revenue: CurveSet,
    limits: Limits | None = None,
    *,
    objective: str = "conversions",
    exploration: Exploration | None = None,
    weekday: int | None = None,
    currency: str = "",
    min_change: float = 0.0,
    edits: EditPolicy | None = None,
) -> ProposedAllocation:
    """Propose daily budgets.

    `units`: one row per decision unit with unit_id, network, account_id, current_budget
    (in the unit's currency) and optionally fx (multiply a unit-currency amount by it to get
    the reporting currency; default 1) and base_budget (the budget the max change is
    measured from, e.g. the budget at the start of the platform day; default current).
    `weekday` (Monday=0) applies that day's day-of-week factors. A move smaller than
    `min_change` (a fraction of the current budget) is not worth an edit: such units are
    held at their current budget and the rest re-solved, so the total and every limit still
    hold; so is a move whose expected gain does not pay for its edit under `edits`
    (see `edits.py`). Raises InfeasibleError when the limits conflict.
    """
    limits = limits or Limits()
    edits = edits or EditPolicy()
    exploration = exploration or Exploration()
    if objective not in OBJECTIVES:
        raise InvalidInputError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    frame = _validate(units)
    fx = frame["fx"].to_numpy(dtype=float)
    mean = _mean_curves(frame, conversions, revenue, fx, weekday)
    opt_gain, opt_half = _objective_curves(
        frame, conversions, revenue, fx, weekday, objective, exploration
    )
    bounds = unit_bounds(frame, limits, fx, mean, objective)
    problem = _problem(frame, bounds, limits, opt_gain, opt_half, objective, currency)
    solution = solve_allocation(problem)
    curves = conversions if objective == "conversions" else revenue
    judge = _Judge(frame, bounds, limits, mean, curves, weekday, objective, currency,
                   min_change, edits)
    problem, solution, _, held = hold_moves(problem, solution, bounds.current, judge.select,
                                            rows=4)
    allocation = _allocation(frame, bounds, limits, mean, problem, solution, objective,
                             exploration, currency, held, judge)
    rows = _with_confidence(allocation.allocations, curves, weekday, objective, edits)
    return replace(allocation, allocations=rows)


@dataclass(frozen=True)
class _Judge:
    """Which moves of a solved plan are not worth an edit: below the minimum change, or
    (under an active edit policy) with too little expected gain for the edit's cost or too
    low a probability of gaining. The gain and its price are read exactly as the returned
    rows' `effect` is (`_with_confidence`), so what is kept is what the manager sees."""

    frame: pd.DataFrame
    bounds: UnitBounds
    limits: Limits
    mean: UnitCurves
    curves: CurveSet
    weekday: int | None
    objective: str
    currency: str
    min_change: float
    edits: EditPolicy

    def select(self, problem: AllocationProblem, solution: AllocationSolution,
               held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        current, spend = self.bounds.current, solution.spend
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = spend / current - 1
        small = negligible_moves(current, spend, self.min_change)
        figures = np.full((4, current.size), np.nan)
        figures[0] = np.where(small, NEGLIGIBLE, np.nan)
        figures[1] = ratio
        moving = moved_units(current, spend) & ~small & ~held
        if not self.edits.active or not moving.any():
            return small, figures
        expected = _expected(current, spend, self.mean)
        binding, _ = _explained(self.frame, self.bounds, self.limits, problem, solution,
                                self.objective, self.currency, expected)
        free = np.asarray([b is None for b in binding]) & ~held
        price = portfolio_price(_marginal_return(expected, self.objective), free, spend)
        rows = self.curves.index_of(self.frame["unit_id"].tolist())
        sure = move_confidence(
            self.curves, rows, current, spend, fx=self.frame["fx"].to_numpy(dtype=float),
            day_factor=self.curves.day_factor(self.weekday)[rows], price=price,
            revenue=self.objective == "revenue",
        )
        money = money_gain(sure.effect, price, self.objective)
        short, unlikely = unworthy(moving, money, sure.prob_gain, self.edits)
        figures[0] = np.select([small, short, unlikely],
                               [NEGLIGIBLE, NOT_WORTH_COST, UNLIKELY], np.nan)
        figures[2], figures[3] = money, sure.prob_gain
        return small | short | unlikely, figures

    def reason(self, figures: np.ndarray) -> str:
        code, ratio, money, prob = (float(v) for v in figures)
        return held_reason(code, ratio, money, prob, self.edits, min_change=self.min_change,
                           currency=self.currency)


def _with_confidence(
    allocations: pd.DataFrame, curves: CurveSet, weekday: int | None, objective: str,
    edits: EditPolicy,
) -> pd.DataFrame:
    """Add each move's probability of gaining, its 80% effect interval and its expected
    gain in the reporting currency net of the edit's cost (NaN where nothing moves)."""
    rows = curves.index_of(allocations["unit_id"].tolist())
    current = allocations["current_budget_reporting"].to_numpy(dtype=float)
    proposed = allocations["proposed_budget_reporting"].to_numpy(dtype=float)
    free = allocations["binding_limit"].isna().to_numpy() & ~allocations["kept"].to_numpy()
    price = portfolio_price(allocations["marginal_return"].to_numpy(dtype=float), free,
                            proposed)
    sure = move_confidence(
        curves, rows, current, proposed, fx=allocations["fx"].to_numpy(dtype=float),
        day_factor=curves.day_factor(weekday)[rows], price=price,
        revenue=objective == "revenue",
    )
    net = np.where(np.isnan(sure.prob_gain), np.nan,
                   money_gain(sure.effect, price, objective) - edits.cost)
    return allocations.assign(prob_gain=sure.prob_gain, effect=sure.effect,
                              effect_low=sure.effect_low, effect_high=sure.effect_high,
                              net_gain=net)


def _validate(units: pd.DataFrame) -> pd.DataFrame:
    missing = {"unit_id", "network", "account_id", "current_budget"} - set(units.columns)
    if missing:
        raise InvalidInputError(f"units lack columns: {', '.join(sorted(missing))}")
    frame = units.reset_index(drop=True).copy()
    for column in ("unit_id", "network", "account_id"):
        frame[column] = frame[column].astype(str)
    if frame["unit_id"].duplicated().any():
        raise InvalidInputError("each unit must appear once")
    if "fx" not in frame.columns:
        frame["fx"] = 1.0
    frame["current_budget"] = frame["current_budget"].astype(float)
    if "base_budget" in frame.columns:
        frame["base_budget"] = frame["base_budget"].astype(float)
        if (frame["base_budget"] < 0).any():
            raise InvalidInputError("base budgets must be >= 0")
    if (frame["current_budget"] < 0).any() or (frame["fx"] <= 0).any():
        raise InvalidInputError("current budgets must be >= 0 and fx factors > 0")
    return frame


def _mean_curves(
    frame: pd.DataFrame, conv: CurveSet, rev: CurveSet, fx: np.ndarray, weekday: int | None
) -> UnitCurves:
    ids = frame["unit_id"].tolist()
    c_rows, r_rows = conv.index_of(ids), rev.index_of(ids)
    return UnitCurves(
        conv_gain=conv.gain[c_rows] * conv.day_factor(weekday)[c_rows],
        conv_half=conv.half_spend[c_rows] * fx,
        rev_gain=rev.gain[r_rows] * rev.day_factor(weekday)[r_rows] * fx,
        rev_half=rev.half_spend[r_rows] * fx,
    )


def _objective_curves(
    frame: pd.DataFrame,
    conv: CurveSet,
    rev: CurveSet,
    fx: np.ndarray,
    weekday: int | None,
    objective: str,
    exploration: Exploration,
) -> tuple[np.ndarray, np.ndarray]:
    curves = conv if objective == "conversions" else rev
    rows = curves.index_of(frame["unit_id"].tolist())
    gain, half = exploring_curves(curves, rows, exploration)
    gain = gain * curves.day_factor(weekday)[rows]
    if objective == "revenue":
        gain = gain * fx
    return gain, half * fx


def _problem(
    frame: pd.DataFrame,
    bounds: UnitBounds,
    limits: Limits,
    gain: np.ndarray,
    half: np.ndarray,
    objective: str,
    currency: str,
) -> AllocationProblem:
    pairs = list(zip(frame["network"], frame["account_id"], strict=True))
    account_code, account_keys = pd.factorize(pd.Series(pairs))
    network_code, network_names = pd.factorize(frame["network"])
    account_network = np.zeros(len(account_keys), dtype=np.int64)
    account_network[account_code] = network_code
    account_ids = [key[1] for key in account_keys]
    acc_limits, net_limits = limits.for_scope("account"), limits.for_scope("network")
    total = limits.total_budget
    if total is None:
        total = float((frame["current_budget"] * frame["fx"]).sum())
    floor = 0.0
    if objective == "conversions" and limits.target_cpa is not None:
        floor = 1.0 / limits.target_cpa
    if objective == "revenue" and limits.min_roas is not None:
        floor = limits.min_roas
    return AllocationProblem(
        gain=gain,
        half_spend=half,
        lower=bounds.lower,
        upper=bounds.upper,
        unit_account=account_code.astype(np.int64),
        account_network=account_network,
        account_min=_group(acc_limits, account_ids, "min_daily", 0.0),
        account_max=_group(acc_limits, account_ids, "max_daily", np.inf),
        network_min=_group(net_limits, list(network_names), "min_daily", 0.0),
        network_max=_group(net_limits, list(network_names), "max_daily", np.inf),
        total_budget=float(total),
        price_floor=floor,
        unit_names=tuple(frame["unit_id"]),
        account_names=tuple(account_ids),
        network_names=tuple(str(n) for n in network_names),
        currency=currency,
    )


def _group(limits: dict, keys: list[str], attr: str, default: float) -> np.ndarray:
    values = [getattr(limits[k], attr) if k in limits else None for k in keys]
    return np.asarray([default if v is None else float(v) for v in values], dtype=float)


@dataclass(frozen=True)
class _Expected:
    """Per unit, by the mean curves: results at the current and proposed budgets and what
    the next unit of spend would cost (CPA) or return (ROAS) at the proposed budget."""

    conv_now: np.ndarray
    conv_new: np.ndarray
    rev_now: np.ndarray
    rev_new: np.ndarray
    marginal_cpa: np.ndarray
    marginal_roas: np.ndarray


def _allocation(
    frame: pd.DataFrame, bounds: UnitBounds, limits: Limits, mean: UnitCurves,
    problem: AllocationProblem, solution: AllocationSolution, objective: str,
    exploration: Exploration, currency: str, held: np.ndarray, judge: _Judge,
) -> ProposedAllocation:
    """The solved plan as a proposal: a row per unit with its reason, the expected results
    now and as proposed, what is left unspent and why, and the optimality certificate."""
    fx = frame["fx"].to_numpy(dtype=float)
    current = bounds.current
    proposed = solution.spend
    expected = _expected(current, proposed, mean)
    binding, reasons = _explained(frame, bounds, limits, problem, solution, objective,
                                  currency, expected)
    kept = _mark_kept(binding, reasons, held, judge)
    allocations = _rows(frame, fx, current, proposed, expected, objective, binding, reasons,
                        kept)
    unspent = max(problem.total_budget - solution.total_spend, 0.0)
    return ProposedAllocation(
        objective=objective,
        currency=currency,
        exploration=exploration.method,
        total_budget=problem.total_budget,
        expected=Outcome(float(expected.conv_new.sum()), float(expected.rev_new.sum()),
                         solution.total_spend),
        baseline=Outcome(float(expected.conv_now.sum()), float(expected.rev_now.sum()),
                         float(current.sum())),
        unspent=unspent,
        unspent_reason=_unspent_reason(unspent, problem, solution, limits, objective),
        allocations=allocations,
        certificate=Certificate(
            solution.duality_gap, solution.relative_gap, solution.max_violation, solution.price
        ),
        problem=problem,
    )


def _expected(current: np.ndarray, proposed: np.ndarray, mean: UnitCurves) -> _Expected:
    # The mean curves, not the optimised (exploration) ones: what the manager may expect.
    with np.errstate(divide="ignore"):  # a unit with no marginal conversions: infinite CPA
        marginal_cpa = 1.0 / marginal(proposed, mean.conv_gain, mean.conv_half)
    return _Expected(
        conv_now=response(current, mean.conv_gain, mean.conv_half),
        conv_new=response(proposed, mean.conv_gain, mean.conv_half),
        rev_now=response(current, mean.rev_gain, mean.rev_half),
        rev_new=response(proposed, mean.rev_gain, mean.rev_half),
        marginal_cpa=marginal_cpa,
        marginal_roas=marginal(proposed, mean.rev_gain, mean.rev_half),
    )


def _explained(
    frame: pd.DataFrame, bounds: UnitBounds, limits: Limits, problem: AllocationProblem,
    solution: AllocationSolution, objective: str, currency: str, expected: _Expected,
) -> tuple[list[str | None], list[str]]:
    """Per unit, the limit that binds it (if any) and the reason for its proposal."""
    # An account's price above its network's means the account's maximum binds (below it,
    # its minimum); likewise a network's price against the portfolio's.
    account_price = solution.account_price[problem.unit_account]
    network_price = solution.network_price[problem.account_network[problem.unit_account]]
    return explain(
        ExplainInput(
            objective=objective,
            currency=currency,
            bounds=bounds,
            proposed=solution.spend,
            account=tuple(frame["account_id"]),
            network=tuple(frame["network"]),
            account_surcharge=account_price - network_price,
            network_surcharge=network_price - solution.price,
            marginal_cpa=expected.marginal_cpa,
            marginal_roas=expected.marginal_roas,
            price_floor_binds=problem.price_floor > 0 and not solution.budget_binding,
            target_cpa=limits.target_cpa,
            min_roas=limits.min_roas,
        )
    )


def _mark_kept(
    binding: list[str | None], reasons: list[str], held: np.ndarray, judge: _Judge
) -> np.ndarray:
    """Which units are held at their current budget for a move not worth an edit: no
    limit binds them, and their reason says why they keep their budget."""
    kept = ~np.isnan(held[0])
    for i in np.flatnonzero(kept):
        binding[i] = None
        reasons[i] = judge.reason(held[:, i])
    return kept


def _rows(
    frame: pd.DataFrame, fx: np.ndarray, current: np.ndarray, proposed: np.ndarray,
    expected: _Expected, objective: str, binding: list[str | None], reasons: list[str],
    kept: np.ndarray,
) -> pd.DataFrame:
    """One row per unit: budgets in its own and the reporting currency, expected results."""
    marginal_return = _marginal_return(expected, objective)
    return pd.DataFrame(
        {
            "unit_id": frame["unit_id"],
            "network": frame["network"],
            "account_id": frame["account_id"],
            "fx": fx,
            "current_budget": frame["current_budget"].to_numpy(dtype=float),
            "proposed_budget": proposed / fx,
            "current_budget_reporting": current,
            "proposed_budget_reporting": proposed,
            "expected_conversions_current": expected.conv_now,
            "expected_conversions": expected.conv_new,
            "expected_revenue_current": expected.rev_now,
            "expected_revenue": expected.rev_new,
            "marginal_return": marginal_return,
            "marginal_cpa": expected.marginal_cpa,
            "marginal_roas": expected.marginal_roas,
            "binding_limit": binding,
            "reason": reasons,
            "kept": kept,
        }
    )


def _marginal_return(expected: _Expected, objective: str) -> np.ndarray:
    if objective == "conversions":
        return np.asarray(1.0 / expected.marginal_cpa)
    return expected.marginal_roas


def _unspent_reason(
    unspent: float,
    problem: AllocationProblem,
    solution: AllocationSolution,
    limits: Limits,
    objective: str,
) -> str | None:
    if unspent <= 1e-9 * max(problem.total_budget, 1.0):
        return None
    if problem.price_floor > 0 and solution.price > 0:
        if objective == "conversions":
            return f"further spend would cost more than the target CPA {limits.target_cpa:.2f}"
        return f"further spend would return less than the minimum ROAS {limits.min_roas:.2f}"
    return "every campaign is at its maximum (caps, max change, locks or targets)"
