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
from optimizer.explain import ExplainInput, explain, exploration_reason
from optimizer.exploration import Exploration, exploring_curves
from optimizer.negligible import hold_moves, moved_units, negligible_moves
from optimizer.scope_targets import HeldTargets, hold_targets
from optimizer.value import ResultCurves, describe_buy
from optimizer.voi import ProbeInput, Probes, plan_probes

OBJECTIVES = ("conversions", "revenue", "value")


@dataclass(frozen=True)
class Outcome:
    conversions: float
    revenue: float
    spend: float
    value: float | None = None  # under the value objective: what the results are worth


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
    results: ResultCurves | None = None,
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
    hold. The "value" objective needs `results` (`optimizer.value.result_curves`): each
    unit is judged by what its own result is worth; target CPA and minimum ROAS speak of
    conversions and revenue and do not apply to it. A move whose expected gain does not pay
    for its edit under `edits` (see `edits.py`) is held too. Raises InfeasibleError when the
    limits conflict.
    """
    limits = limits or Limits()
    edits = edits or EditPolicy()
    exploration = exploration or Exploration()
    if objective not in OBJECTIVES:
        raise InvalidInputError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "value" and results is None:
        raise InvalidInputError("the value objective needs each unit's result curves and values")
    frame = _validate(units)
    fx = frame["fx"].to_numpy(dtype=float)
    mean = _mean_curves(frame, conversions, revenue, fx, weekday)
    curves = _objective_set(objective, conversions, revenue, results)
    opt_gain, opt_half = _objective_curves(frame, curves, fx, weekday, objective, exploration)
    bounds = unit_bounds(frame, limits, fx, mean, objective)
    problem = _problem(frame, bounds, limits, opt_gain, opt_half, objective, currency)
    solution = solve_allocation(problem)
    own = _own_results(frame, conversions, revenue, results, fx, weekday, objective)
    judge = _Judge(frame, bounds, limits, mean, curves, weekday, objective, currency,
                   min_change, edits, own)
    problem, solution, _, held = hold_moves(problem, solution, bounds.current, judge.select,
                                            rows=4)
    probes = None
    if exploration.method == "voi":
        probes = _probes(frame, curves, problem, solution, exploration, weekday, objective,
                         held, min_change)
        solution = replace(solution, spend=probes.spend, total_spend=float(probes.spend.sum()))
    allocation = _allocation(frame, bounds, limits, mean, problem, solution, objective,
                             exploration, currency, held, judge, own, probes)
    rows = _with_confidence(allocation.allocations, curves, weekday, objective, edits)
    return replace(allocation, allocations=rows)


def _probes(
    frame: pd.DataFrame, curves: CurveSet, problem: AllocationProblem,
    solution: AllocationSolution, exploration: Exploration, weekday: int | None,
    objective: str, held: np.ndarray, min_change: float,
) -> Probes:
    """The value-of-information probes on the solved plan (`voi.py`), in the problem's
    units; a unit held for its edit cost or a lock stays where it is."""
    fx = frame["fx"].to_numpy(dtype=float)
    rows = curves.index_of(frame["unit_id"].tolist())
    factor = curves.day_factor(weekday)[rows]
    money = fx if objective != "conversions" else np.ones(fx.size)
    spend = solution.spend
    fixed = ~np.isnan(held[0])
    return plan_probes(
        ProbeInput(
            plan=spend, lower=np.where(fixed, spend, problem.lower),
            upper=np.where(fixed, spend, problem.upper), gain=problem.gain,
            half=problem.half_spend,
            draws_gain=curves.draws_gain[rows] * (factor * money)[:, None],
            draws_half=curves.draws_half_spend[rows] * fx[:, None],
            price=solution.unit_price, account=problem.unit_account,
            total_budget=problem.total_budget, min_change=min_change,
            account_network=problem.account_network, account_min=problem.account_min,
            account_max=problem.account_max, network_min=problem.network_min,
            network_max=problem.network_max,
        ),
        max_share=exploration.max_share, horizon_days=exploration.horizon_days,
    )


def _objective_set(
    objective: str, conv: CurveSet, rev: CurveSet, results: ResultCurves | None
) -> CurveSet:
    if objective == "conversions":
        return conv
    if objective == "revenue":
        return rev
    assert results is not None  # checked by the caller
    return results.value


@dataclass(frozen=True)
class _OwnResults:
    """Per unit: the result its move is measured in (the objective's metric, or under the
    value objective its own), that result's mean curve in the reporting currency, and what
    one result is worth there (None when not valuing)."""

    kinds: tuple[str, ...]
    gain: np.ndarray
    half: np.ndarray
    worth: np.ndarray | None


def _own_results(
    frame: pd.DataFrame, conv: CurveSet, rev: CurveSet, results: ResultCurves | None,
    fx: np.ndarray, weekday: int | None, objective: str,
) -> _OwnResults:
    ids = frame["unit_id"].tolist()
    if objective != "value":
        curves = conv if objective == "conversions" else rev
        rows = curves.index_of(ids)
        gain = curves.gain[rows] * curves.day_factor(weekday)[rows]
        if objective == "revenue":
            gain = gain * fx
        return _OwnResults((objective,) * len(ids), gain, curves.half_spend[rows] * fx, None)
    assert results is not None
    rows = results.rows(ids)
    own = results.own
    kinds = tuple(results.kinds[r] for r in rows)
    money = np.asarray([k == "revenue" for k in kinds])
    gain = own.gain[rows] * own.day_factor(weekday)[rows] * np.where(money, fx, 1.0)
    # One result's worth in the reporting currency (revenue: already in money, at fx).
    worth = results.scale[rows] * fx / np.where(money, fx, 1.0)
    return _OwnResults(kinds, gain, own.half_spend[rows] * fx, worth)


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
    own: _OwnResults

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
        expected = _expected(current, spend, self.mean, self.own)
        binding, _ = _explained(self.frame, self.bounds, self.limits, problem, solution,
                                self.objective, self.currency, expected, self.own)
        free = np.asarray([b is None for b in binding]) & ~held
        price = portfolio_price(_marginal_return(expected, self.objective, self.own), free, spend)
        rows = self.curves.index_of(self.frame["unit_id"].tolist())
        sure = move_confidence(
            self.curves, rows, current, spend, fx=self.frame["fx"].to_numpy(dtype=float),
            day_factor=self.curves.day_factor(self.weekday)[rows], price=price,
            revenue=self.objective != "conversions",
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
        revenue=objective != "conversions",
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
    curves: CurveSet,
    fx: np.ndarray,
    weekday: int | None,
    objective: str,
    exploration: Exploration,
) -> tuple[np.ndarray, np.ndarray]:
    rows = curves.index_of(frame["unit_id"].tolist())
    gain, half = exploring_curves(curves, rows, exploration)
    gain = gain * curves.day_factor(weekday)[rows]
    if objective != "conversions":  # revenue and value are money in the unit's currency
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
    scopes = [
        _group(acc_limits, account_ids, "min_daily", 0.0),
        _group(acc_limits, account_ids, "max_daily", np.inf),
        _group(net_limits, list(network_names), "min_daily", 0.0),
        _group(net_limits, list(network_names), "max_daily", np.inf),
    ]
    held: dict[tuple[str, str], tuple[float, float]] = {}
    if limits.targets:
        targets = _held_targets(bounds, account_code.astype(np.int64), account_network,
                                scopes, float(total), limits, account_ids,
                                [str(n) for n in network_names])
        scopes = [targets.account_min, targets.account_max, targets.network_min,
                  targets.network_max]
        held = {("account", account_ids[a]): r for a, r in targets.accounts.items()}
        held |= {("network", str(network_names[n])): r for n, r in targets.networks.items()}
    return AllocationProblem(
        gain=gain,
        half_spend=half,
        lower=bounds.lower,
        upper=bounds.upper,
        unit_account=account_code.astype(np.int64),
        account_network=account_network,
        account_min=scopes[0],
        account_max=scopes[1],
        network_min=scopes[2],
        network_max=scopes[3],
        targets=held,
        total_budget=float(total),
        price_floor=floor,
        unit_names=tuple(frame["unit_id"]),
        account_names=tuple(account_ids),
        network_names=tuple(str(n) for n in network_names),
        currency=currency,
    )


def _held_targets(bounds: UnitBounds, unit_account: np.ndarray, account_network: np.ndarray,
                  scopes: list[np.ndarray], total: float, limits: Limits,
                  account_ids: list[str], network_names: list[str]) -> HeldTargets:
    """`limits.targets` as far as the units' bounds, the scopes' own limits and the total
    allow (`scope_targets.hold_targets`); a target of a scope with no unit is ignored."""
    accounts = {k: i for i, k in enumerate(account_ids)}
    networks = {k: i for i, k in enumerate(network_names)}
    wanted: dict[str, dict[int, tuple[float, float]]] = {"account": {}, "network": {}}
    for t in limits.targets:
        index = (accounts if t.scope == "account" else networks).get(t.key) \
            if t.scope in wanted else None
        if index is not None:
            wanted[t.scope][index] = (t.min_daily or 0.0,
                                      np.inf if t.max_daily is None else t.max_daily)
    return hold_targets(bounds.lower, bounds.upper, unit_account, account_network, scopes[0],
                        scopes[1], scopes[2], scopes[3], total, wanted["account"],
                        wanted["network"])


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
    result_now: np.ndarray  # each unit's measured result (_OwnResults)
    result_new: np.ndarray
    marginal_result: np.ndarray  # per unit of spend (reporting currency)


def _allocation(
    frame: pd.DataFrame, bounds: UnitBounds, limits: Limits, mean: UnitCurves,
    problem: AllocationProblem, solution: AllocationSolution, objective: str,
    exploration: Exploration, currency: str, held: np.ndarray, judge: _Judge,
    own: _OwnResults, probes: Probes | None = None,
) -> ProposedAllocation:
    """The solved plan as a proposal: a row per unit with its reason, the expected results
    now and as proposed, what is left unspent and why, and the optimality certificate."""
    fx = frame["fx"].to_numpy(dtype=float)
    current = bounds.current
    proposed = solution.spend
    expected = _expected(current, proposed, mean, own)
    binding, reasons = _explained(frame, bounds, limits, problem, solution, objective,
                                  currency, expected, own)
    kept = _mark_kept(binding, reasons, held, judge)
    explored = np.zeros(current.size, dtype=bool) if probes is None else probes.explored
    for i in np.flatnonzero(explored):
        assert probes is not None
        binding[i] = None
        reasons[i] = exploration_reason(bool(probes.raised[i]), probes.value[i],
                                        probes.cost[i], exploration.horizon_days,
                                        objective, currency)
    if own.worth is not None:
        _say_what_moves_buy(reasons, bounds, proposed, kept, expected, own, currency)
    allocations = _rows(frame, fx, current, proposed, expected, objective, binding, reasons,
                        kept, own).assign(exploration=explored)
    unspent = max(problem.total_budget - solution.total_spend, 0.0)
    value_now = value_new = None
    if own.worth is not None:
        value_now = float((expected.result_now * own.worth).sum())
        value_new = float((expected.result_new * own.worth).sum())
    return ProposedAllocation(
        objective=objective,
        currency=currency,
        exploration=exploration.method,
        total_budget=problem.total_budget,
        expected=Outcome(float(expected.conv_new.sum()), float(expected.rev_new.sum()),
                         solution.total_spend, value_new),
        baseline=Outcome(float(expected.conv_now.sum()), float(expected.rev_now.sum()),
                         float(current.sum()), value_now),
        unspent=unspent,
        unspent_reason=_unspent_reason(unspent, problem, solution, limits, objective),
        allocations=allocations,
        certificate=Certificate(
            solution.duality_gap, solution.relative_gap, solution.max_violation, solution.price
        ),
        problem=problem,
    )


def _expected(
    current: np.ndarray, proposed: np.ndarray, mean: UnitCurves, own: _OwnResults
) -> _Expected:
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
        result_now=response(current, own.gain, own.half),
        result_new=response(proposed, own.gain, own.half),
        marginal_result=marginal(proposed, own.gain, own.half),
    )


def _explained(
    frame: pd.DataFrame, bounds: UnitBounds, limits: Limits, problem: AllocationProblem,
    solution: AllocationSolution, objective: str, currency: str, expected: _Expected,
    own: _OwnResults,
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
            marginal_value=None if own.worth is None else expected.marginal_result * own.worth,
            targets=frozenset(problem.targets),
        )
    )


def _say_what_moves_buy(
    reasons: list[str], bounds: UnitBounds, proposed: np.ndarray, kept: np.ndarray,
    expected: _Expected, own: _OwnResults, currency: str,
) -> None:
    """Under the value objective each moving unit's reason ends with what its move buys
    (or gives up) in its own result, so a manager sees reach traded against conversions."""
    moved = ~kept & (np.abs(proposed - bounds.current)
                     > 1e-9 * np.maximum(np.abs(bounds.current), 1.0))
    for i in np.flatnonzero(moved):
        change = float(expected.result_new[i] - expected.result_now[i])
        verb = "buys" if change >= 0 else "gives up"
        reasons[i] = f"{reasons[i]}; {verb} {describe_buy(own.kinds[i], change, currency)}"


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
    kept: np.ndarray, own: _OwnResults,
) -> pd.DataFrame:
    """One row per unit: budgets in its own and the reporting currency, expected results."""
    marginal_return = _marginal_return(expected, objective, own)
    worth = np.full(fx.size, np.nan) if own.worth is None else own.worth
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
            # The result the unit's move is measured in, and (value objective) its worth.
            "result_kind": own.kinds,
            "expected_result_current": expected.result_now,
            "expected_result": expected.result_new,
            "expected_value_current": expected.result_now * worth,
            "expected_value": expected.result_new * worth,
            "binding_limit": binding,
            "reason": reasons,
            "kept": kept,
        }
    )


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


def _marginal_return(expected: _Expected, objective: str, own: _OwnResults) -> np.ndarray:
    """What one more unit of spend returns: conversions, revenue, or (value objective) the
    worth of the unit's own result."""
    if objective == "conversions":
        return np.asarray(1.0 / expected.marginal_cpa)
    if objective == "revenue":
        return expected.marginal_roas
    assert own.worth is not None
    return np.asarray(expected.marginal_result * own.worth)
