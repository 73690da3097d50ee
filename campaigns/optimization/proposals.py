"""The optimisation service: load a portfolio, call the pure optimiser, record the proposal.

One call to :func:`propose` fits response curves from stored history, allocates tomorrow's
daily budgets inside the caps, and adds an OptimizationRun, a proposed BudgetShift with its
ShiftItems and AuditEvents to the session. The caller's unit of work commits (the CLI
command, the API request or the nightly job). What happens to the proposal next belongs to
:mod:`campaigns.shifts.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import time
from dataclasses import replace
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlmodel import Session, col
from threadpoolctl import threadpool_limits

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.config import OptimizerSettings, ResultValues, Settings
from campaigns.errors import ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetShift, OptimizationRun, ShiftItem
from campaigns.optimization.curve_fits import fit_results
from campaigns.optimization.holds import rule_holds
from campaigns.optimization.inputs import (
    PortfolioData,
    Unit,
    check_cap_keys,
    day_start_budgets,
    limits_from_caps,
    load_portfolio_data,
    load_rates,
    newest_history_day,
)
from campaigns.optimization.nowcast import completion_frame, load_lag
from campaigns.optimization.plan_limits import PlanBand, plan_bands, plans_json, with_plans
from campaigns.optimization.result import (
    EditSummary,
    ProposalResult,
    build_result,
    curve_summaries,
    limit_label,
    move_confidence,
)
from campaigns.optimization.result_fits import value_inputs
from campaigns.optimization.rounding import settle_budgets
from campaigns.optimization.targets import run_targets
from campaigns.policy import service_config
from connectors.currencies import minor_unit
from optimizer import (
    EditPolicy,
    Exploration,
    InfeasibleError,
    OptimizerError,
    ProposedAllocation,
    ResultCurves,
    fit_curves,
    optimize_budgets,
)

log = logging.getLogger("budgetpilot.optimize")

HISTORY_DAYS = 97  # 90 usable days after the conversion-lag days are set aside
# lag_days, min_change, half_life_days and the exploration: campaigns.config.OptimizerSettings


class InfeasibleLimitsError(ValidationError):
    title = "Limits cannot all hold"


class StaleHistoryError(ValidationError):
    """The stored history does not reach into the fitting window (`optimize` exits 3)."""

    title = "History too old to plan on"


def propose(
    session: Session,
    settings: Settings,
    *,
    portfolio: str = "default",
    total_budget: float | None = None,
    objective: str | None = None,
    max_change: float | None = None,
    created_by: str = "cli",
    today: dt.date | None = None,
    exploration: Exploration | None = None,
    now: dt.datetime | None = None,
) -> ProposalResult:
    """Propose tomorrow's budgets for `portfolio`; the result's `to_json()` is
    `optimize --json`'s object.

    `today` plans as of that day (history before it, its FX rates); a day before `now`'s
    is a what-if: the run is recorded, but no shift, since its budgets are not today's.
    `now` is the clock: it decides the platform day whose first budgets bound the max change.
    """
    started, cpu = time.perf_counter(), time.process_time()
    now = now or utcnow()
    today = today or now.astimezone(dt.UTC).date()
    as_of_past = today < now.astimezone(dt.UTC).date()
    options = settings.optimizer
    objective = objective or options.objective
    max_change = options.max_change if max_change is None else max_change
    exploration = exploration or exploration_of(options)
    clock = _Clock(started, cpu)
    data, limits = _load_inputs(session, settings, portfolio, today=today, now=now,
                                total_budget=total_budget, max_change=max_change,
                                objective=objective, clock=clock)
    values = options.values_for(portfolio, settings.portfolios) if objective == "value" else None
    lag = load_lag(session, {u.account.id: u.account for u in data.units}.values(), today)
    completion = completion_frame(data.history, data.units, lag, today) if options.nowcast \
        else None
    clock.lap("nowcast_s")
    # One BLAS thread: the fit's many small solves gain nothing from a second thread, and on
    # two cores BLAS's threads spin against the rest of the run (and other processes).
    bands, unread = plan_bands(session, settings, data, today, max_change) \
        if options.follow_plans else ([], [])
    if options.follow_plans:
        clock.lap("plans_s")  # pacing's month-to-date spend and ratios for the plans
    with threadpool_limits(limits=1, user_api="blas"):
        allocation, curves, results, limits, plans = _optimise_with_plans(
            data, limits, bands, unread, objective, exploration, today, options.lag_days,
            options.min_change, options.half_life_days,
            EditPolicy(options.edit_cost, options.min_prob_gain), values, completion,
            clock=clock)
    proposed = _proposed_budgets(data, allocation, limits, options.min_change)
    clock.lap("round_s")
    run = _record_run(session, data, allocation, created_by, limits, options.lag_days,
                      exploration, today, now)
    run.inputs = {**(run.inputs or {}), "nowcast": options.nowcast}
    if not as_of_past:  # a what-if in the past is not where the runs are taking budgets
        run.targets = run_targets(data, curves, limits, objective, exploration, today,
                                  options.min_change, results)
        if run.targets is not None and plans and any(
                not p["followed"].startswith("no") for p in plans):
            # pacing's forecast of a planned scope follows the plan, as the runs do
            run.targets = {**run.targets, "plan_band": options.plan_band}
    lag.keep_cells(session)  # the next learning reads only what a sync restates
    if (kept := lag.kept()) is not None:  # the next run reuses the curves if nothing changed
        run.inputs = {**run.inputs, "completion": kept}
    if values is not None:  # what the run priced each result at
        run.inputs = {**(run.inputs or {}), "values": values.model_dump(exclude_none=True)}
    shift_id = None if as_of_past else _record_shift(
        session, settings, data, allocation, run, created_by, proposed, now).id
    clock.lap("record_s")
    changed = sum(b != u.current_budget for u, b in zip(data.units, proposed, strict=True))
    edits = EditSummary.of(allocation, changed, cost=options.edit_cost,
                           min_prob_gain=options.min_prob_gain,
                           max_per_week=options.max_edits_per_week)
    result = build_result(run.id, shift_id, today, data, allocation, proposed,
                          curve_summaries(curves[objective], data), edits,
                          lag=lag.to_json() | {"nowcast": options.nowcast}, plans=plans)
    clock.lap("result_s")
    run.timings = clock.timings()
    _store_outputs(session, run, result, data, allocation)
    return result


def _optimise_with_plans(
    data: PortfolioData, limits: Any, bands: list[PlanBand], unread: list[dict[str, Any]],
    objective: str, exploration: Exploration, today: dt.date, lag_days: int,
    min_change: float, half_life: float | None, edits: EditPolicy,
    values: ResultValues | None, completion: pd.DataFrame | None, clock: _Clock,
) -> tuple[ProposedAllocation, dict[str, Any], ResultCurves | None, Any,
           list[dict[str, Any]] | None]:
    """:func:`_optimise` keeping each plan's range as far as the other limits allow; should
    that still conflict (it should not: a target is narrowed to what the limits can reach),
    the run goes ahead without the plans and says so per plan (``followed``)."""
    tries = [with_plans(limits, bands), limits] if bands else [limits]
    allocation, curves, results, i = _optimise(
        data, tries, objective, exploration, today, lag_days, min_change, half_life, edits,
        values, completion, clock=clock)
    if not bands and not unread:
        return allocation, curves, results, limits, None
    if i == 1:
        plans = [b.to_json("no: the plans' ranges conflict with the other limits",
                           (b.current, b.current)) for b in bands] + unread
        return allocation, curves, results, limits, plans
    held = allocation.problem.targets if allocation.problem is not None else {}
    return allocation, curves, results, tries[0], plans_json(bands, held, unread)


def exploration_of(options: OptimizerSettings) -> Exploration:
    """The exploration `[optimizer]` asks for; "cautious" lowers each curve to its
    `cautious_quantile` (that many posterior sds below the estimate, normal)."""
    strength = Exploration.strength
    if options.exploration == "cautious":
        strength = -NormalDist().inv_cdf(options.cautious_quantile)
    return Exploration(method=options.exploration, strength=strength, seed=options.seed,
                       max_share=options.exploration_max_share,
                       horizon_days=options.exploration_horizon_days)


class _Clock:
    """Seconds per phase of one run, kept on the run (`OptimizationRun.timings`): where a
    slow run spent its time. `load_s` and `optimise_s` (fit and allocate) as before; each
    phase's CPU seconds beside its wall seconds as ``cpu_`` + its name (`cpu_fit_s`,
    `cpu_total_s`): on a shared machine a phase's wall time says more about the others'
    work than about its own."""

    def __init__(self, started: float, cpu: float | None = None) -> None:
        self.started = self.last = started
        self.cpu_started = self.cpu_last = time.process_time() if cpu is None else cpu
        self.laps: dict[str, float] = {}
        self.cpu_laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.cpu_laps[name] = self.cpu_laps.get(name, 0.0) + cpu - self.cpu_last
        self.last, self.cpu_last = now, cpu

    def timings(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for prefix, laps, total in (
            ("", self.laps, time.perf_counter() - self.started),
            ("cpu_", self.cpu_laps, time.process_time() - self.cpu_started),
        ):
            laps = dict(laps)
            laps["load_s"] = sum(v for k, v in laps.items() if k.startswith("load"))
            laps["optimise_s"] = laps.get("fit_s", 0.0) + laps.get("allocate_s", 0.0)
            out |= {prefix + k: v for k, v in {**laps, "total_s": total}.items()}
        return out


def _load_inputs(
    session: Session, settings: Settings, portfolio: str, *, today: dt.date, now: dt.datetime,
    total_budget: float | None, max_change: float, objective: str = "conversions",
    clock: _Clock | None = None,
) -> tuple[PortfolioData, Any]:
    """The portfolio's units, history, rates and day-start budgets, and the limits on them."""
    clock = clock or _Clock(time.perf_counter())
    options = settings.optimizer
    owner = get_portfolio(session, portfolio)
    # A sales campaign counts revenue when the run maximises revenue, or values revenue.
    sales = {"revenue": "revenue", "value": options.sales_result}.get(objective, "conversions")
    data = load_portfolio_data(session, owner, today=today, days=HISTORY_DAYS,
                               sales_result=sales, results=objective == "value")
    clock.lap("load_history_s")
    if not data.units:
        raise ValidationError(f"portfolio {portfolio!r} has no active campaign with a daily budget")
    check_cap_keys(session, data)
    _check_history(session, data, today, options.lag_days)
    load_rates(session, data, today)
    data = replace(data, base_budgets=day_start_budgets(session, data.units, now))
    # DESIGN.md: the default total is the sum of current budgets. Callers that budget to the
    # portfolio's configured daily_total (the nightly job) pass it explicitly.
    limits = limits_from_caps(
        data, total_budget=total_budget, max_change=max_change,
        target_cpa=options.target_cpa, min_roas=options.min_roas,
    )
    # Edits this week and Meta's learning phase hold budgets too, each saying why.
    limits = replace(limits, locks=limits.locks + rule_holds(session, data, options, now))
    clock.lap("load_limits_s")
    return data, limits


def _store_outputs(
    session: Session, run: OptimizationRun, result: ProposalResult, data: PortfolioData,
    allocation: ProposedAllocation,
) -> None:
    """Keep the result (``optimize --json``'s object) on the run and log what it expects."""
    run.outputs = result.to_json()
    session.add(run)
    session.flush()
    log.info("run %s: %d units, expected %.1f conversions (baseline %.1f)", run.id,
             len(data.units), allocation.expected.conversions, allocation.baseline.conversions)


def result_json(session: Session, result: ProposalResult) -> dict[str, Any]:
    """``optimize --json``'s object as the run stored it: built once, as 10,000 campaigns
    make building it again a noticeable part of a run."""
    run = session.get(OptimizationRun, result.run_id)
    outputs = run.outputs if run is not None else None
    return outputs if isinstance(outputs, dict) else result.to_json()


def _check_history(session: Session, data: PortfolioData, today: dt.date, lag_days: int) -> None:
    """Refuse, saying what to do, when no stored day falls in the fitting window."""
    first = today - dt.timedelta(days=HISTORY_DAYS)
    last = today - dt.timedelta(days=lag_days + 1)
    if len(data.history):
        # Whole days compared as timestamps: `.dt.date` makes 900,000 date objects.
        days = pd.to_datetime(data.history["date"]).dt.floor("D")
        if ((days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))).any():
            return
    newest = newest_history_day(session, data, before=today)
    name = data.portfolio.name
    if newest is None:
        raise StaleHistoryError(
            f"portfolio {name!r} has no history before {today.isoformat()}: sync it "
            "(budgetpilot sync) or import metrics (budgetpilot import) first"
        )
    raise StaleHistoryError(
        f"the newest history of portfolio {name!r} is {newest.isoformat()}, before the "
        f"fitting window {first.isoformat()} to {last.isoformat()}"
        + (f" (the last {lag_days} days are left out while conversions still come in)"
           if lag_days else "")
        + ": sync recent data, or plan "
        f"as of that time with --as-of {(newest + dt.timedelta(days=lag_days + 1)).isoformat()}"
    )


def _optimise(
    data: PortfolioData, tries: list[Any], objective: str, exploration: Exploration,
    today: dt.date, lag_days: int, min_change: float, half_life: float | None,
    edits: EditPolicy, values: ResultValues | None = None,
    completion: pd.DataFrame | None = None, clock: _Clock | None = None,
) -> tuple[ProposedAllocation, dict[str, Any], ResultCurves | None, int]:
    """The allocation, the curves each unit's confidence is shown for (by objective),
    for the value objective the result curves it priced, and which of the ``tries`` (limits,
    each tried in turn while the ones before conflict) it kept: the curves are fitted once.
    ``completion`` nowcasts the recent days of conversions and revenue (the counts a
    platform reports at once, reach or views, are not restated)."""
    clock = clock or _Clock(time.perf_counter())
    units = data.frame()

    def fit(history: pd.DataFrame, metric: str, frame: pd.DataFrame) -> Any:
        arriving = completion if metric in ("conversions", "revenue") else None
        return fit_curves(history, today=today, metric=metric, lag_days=lag_days,
                          units=frame, seed=exploration.seed, half_life_days=half_life,
                          completion=arriving,
                          shape_from="conversions" if metric == "revenue" else None,
                          shape_hint="clicks" if metric in ("conversions", "revenue") else None)

    # Both at once: revenue's shape is the conversions' read, clicks and all, not read again.
    fits = fit_results(data.history, units=units, today=today, lag_days=lag_days,
                       seed=exploration.seed, half_life_days=half_life, completion=completion)
    results = None
    if objective == "value":
        results = value_inputs(data, units, fits, values or ResultValues(), fit=fit)
        fits = {**fits, "value": results.own}
    clock.lap("fit_s")
    for i, limits in enumerate(tries):
        try:
            allocation = optimize_budgets(
                units, fits["conversions"], fits["revenue"], limits, objective=objective,
                exploration=exploration, weekday=(today + dt.timedelta(days=1)).weekday(),
                currency=data.portfolio.reporting_currency, min_change=min_change,
                results=results, edits=edits,
            )
        except InfeasibleError as e:
            if i < len(tries) - 1:
                continue
            raise InfeasibleLimitsError(f"the limits conflict: {e.message}") from e
        except OptimizerError as e:
            raise ValidationError(str(e)) from e
        clock.lap("allocate_s")
        return allocation, fits, results, i
    raise AssertionError("no limits to try")


def _fingerprint(data: PortfolioData) -> str:
    digest = hashlib.sha256()
    for unit in data.units:
        digest.update(f"{unit.unit_id}={unit.current_budget};".encode())
    digest.update(str(len(data.history)).encode())
    if len(data.history):
        digest.update(f"{data.history['spend'].sum():.6f}".encode())
    return digest.hexdigest()


def _record_run(
    session: Session, data: PortfolioData, allocation: ProposedAllocation, actor: str, limits: Any,
    lag_days: int, exploration: Exploration, as_of: dt.date, now: dt.datetime,
) -> OptimizationRun:
    # Stamped with the caller's clock, not the wall clock: the shift's FX day and its expiry
    # follow the `now` the proposal was made at.
    run = OptimizationRun(
        created_at=now,
        portfolio_id=data.portfolio.id or 0,
        created_by=actor,
        objective=allocation.objective,
        currency=allocation.currency,
        total_budget=Decimal(repr(round(allocation.total_budget, 6))),
        inputs={
            "units": len(data.units), "history_rows": len(data.history),
            "max_change": limits.max_change, "total_budget": limits.total_budget,
            "target_cpa": limits.target_cpa, "min_roas": limits.min_roas,
            "caps": len(data.caps), "locks": len(limits.locks), "lag_days": lag_days,
            "as_of": as_of.isoformat(),
            "exploration": {"method": exploration.method, "strength": exploration.strength,
                            "seed": exploration.seed, "max_share": exploration.max_share,
                            "horizon_days": exploration.horizon_days},
        },
        expected_conversions=allocation.expected.conversions,
        expected_revenue=allocation.expected.revenue,
        expected_spend=allocation.expected.spend,
        baseline_conversions=allocation.baseline.conversions,
        baseline_revenue=allocation.baseline.revenue,
        duality_gap=allocation.certificate.duality_gap,
        data_fingerprint=_fingerprint(data),
    )
    session.add(run)
    session.flush()
    audit.record(session, actor=actor, action="optimization.run", entity_type="optimization_run",
                 entity_id=run.id, after={"objective": allocation.objective,
                                          "expected": allocation.expected.__dict__,
                                          "baseline": allocation.baseline.__dict__})
    return run


def _proposed_budgets(
    data: PortfolioData, allocation: ProposedAllocation, limits: Any, min_change: float
) -> list[Decimal]:
    """Each unit's new budget in its currency, rounded so that every limit still holds and
    the proposal never sums to more than the total (in the reporting currency)."""
    if limits.total_budget is not None:
        total = Decimal(repr(float(limits.total_budget)))
    else:
        total = sum((u.current_budget * u.rate for u in data.units), Decimal(0))
    try:
        return settle_budgets(
            allocation, [u.current_budget for u in data.units], [u.rate for u in data.units],
            [minor_unit(u.account.currency) for u in data.units], total=total,
            min_change=min_change,
        )
    except InfeasibleError as e:
        raise InfeasibleLimitsError(f"the limits conflict: {e.message}") from e




def _record_shift(
    session: Session, settings: Settings, data: PortfolioData, allocation: ProposedAllocation,
    run: OptimizationRun, actor: str, proposed: list[Decimal], now: dt.datetime,
) -> BudgetShift:
    rows = allocation.allocations
    expected, baseline = allocation.expected, allocation.baseline
    ttl = service_config(settings).service.shift_ttl_hours
    shift = BudgetShift(
        run_id=run.id,
        portfolio_id=data.portfolio.id or 0,
        currency=allocation.currency,
        total_before=Decimal(repr(round(float(rows["current_budget_reporting"].sum()), 6))),
        total_after=_reporting_total(data, proposed),
        expected_conversions_delta=expected.conversions - baseline.conversions,
        expected_revenue_delta=expected.revenue - baseline.revenue,
        created_by=actor,
        created_at=now,
        updated_at=now,
        expires_at=now + dt.timedelta(hours=ttl),
        data_fingerprint=run.data_fingerprint,
    )
    session.add(shift)
    session.flush()
    items = [
        _item(shift, unit, row, new_budget)
        for unit, row, new_budget in zip(
            data.units, rows.itertuples(index=False), proposed, strict=True
        )
        if new_budget != unit.current_budget  # an unchanged budget is not sent to the platform
    ]
    changed = len(items)
    if items:  # one bulk statement: an ORM flush of 50,000 items took longer than the solve
        session.execute(insert(ShiftItem), items)
    session.flush()
    audit.record(session, actor=actor, action="shift.propose", entity_type="shift",
                 entity_id=shift.id, after={"status": shift.status, "run_id": run.id,
                                            "items": changed})
    _supersede(session, shift, actor)
    return shift


def _reporting_total(data: PortfolioData, proposed: list[Decimal]) -> Decimal:
    total = sum((b * u.rate for u, b in zip(data.units, proposed, strict=True)), Decimal(0))
    return total.quantize(Decimal("0.000001"))


def _supersede(session: Session, shift: BudgetShift, actor: str) -> None:
    """Older proposals for the portfolio give way to the new one: a manager should review
    one current proposal, not a queue of outdated ones."""
    from campaigns.shifts import lifecycle as shifts
    from campaigns.shifts.states import ShiftStatus

    older = session.scalars(
        select(col(BudgetShift.id)).where(
            col(BudgetShift.portfolio_id) == shift.portfolio_id,
            col(BudgetShift.status) == ShiftStatus.PROPOSED.value,
            col(BudgetShift.id) != shift.id,
        )
    ).all()
    for shift_id in older:
        assert shift_id is not None  # a primary key
        shifts.expire_unloaded(session, shift_id, reason=f"superseded by shift {shift.id}",
                               actor=actor)


def _item_row(**values: Any) -> dict[str, Any]:
    """A ShiftItem's column values, the model's defaults filled in (building the model
    object itself costs ~0.1 ms, which 50,000 items turn into seconds)."""
    return {**_item_defaults(), **values}


@functools.cache
def _item_defaults() -> dict[str, Any]:
    # Read once: every default is a constant (no factory of a time or an id), so each item
    # gets the same values as when they were read per item, at a tenth of a second fewer
    # per 10,000 items.
    return {name: f.get_default(call_default_factory=True)
            for name, f in ShiftItem.model_fields.items()
            if name != "id" and not f.is_required()}


def _item(shift: BudgetShift, unit: Unit, row: Any, new_budget: Decimal) -> dict[str, Any]:
    assert shift.id is not None and unit.campaign.id is not None
    return _item_row(
        shift_id=shift.id,
        campaign_id=unit.campaign.id,
        adset_id=unit.adset_id,
        level=unit.level,
        target_external_id=unit.target_external_id,
        currency=unit.account.currency,
        old_budget=unit.current_budget,
        new_budget=new_budget,
        expected_conversions_old=float(row.expected_conversions_current),
        expected_conversions_new=float(row.expected_conversions),
        expected_revenue_old=float(row.expected_revenue_current),
        expected_revenue_new=float(row.expected_revenue),
        marginal_roi=float(row.marginal_return),
        binding_limit=limit_label(row.binding_limit),
        reason=row.reason,
        exploration=bool(row.exploration),
        **move_confidence(row),
    )
