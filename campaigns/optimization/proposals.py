"""The optimisation service: load a portfolio, call the pure optimiser, record the proposal.

One call to :func:`propose` fits response curves from stored history, allocates tomorrow's
daily budgets inside the caps, and adds an OptimizationRun, a proposed BudgetShift with its
ShiftItems and AuditEvents to the session. The caller's unit of work commits (the CLI
command, the API request or the nightly job). What happens to the proposal next belongs to
:mod:`campaigns.shifts.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlmodel import Session

from campaigns import audit
from campaigns.config import Settings
from campaigns.errors import ValidationError
from campaigns.ingest.catalog import get_portfolio
from campaigns.models import BudgetShift, OptimizationRun, ShiftItem, utcnow
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
from campaigns.optimization.rounding import settle_budgets
from campaigns.policy import service_config
from connectors.currencies import decimals
from optimizer import (
    BudgetPlan,
    Exploration,
    InfeasibleError,
    OptimizerError,
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
) -> dict[str, Any]:
    """Propose tomorrow's budgets for `portfolio`; returns `optimize --json`'s object.

    `today` plans as of that day (history before it, its FX rates); a day before `now`'s
    is a what-if: the run is recorded, but no shift, since its budgets are not today's.
    `now` is the clock: it decides the platform day whose first budgets bound the max change.
    """
    started = time.perf_counter()
    now = now or utcnow()
    today = today or now.astimezone(dt.UTC).date()
    as_of_past = today < now.astimezone(dt.UTC).date()
    options = settings.optimizer
    objective = objective or options.objective
    max_change = options.max_change if max_change is None else max_change
    lag_days = options.lag_days
    exploration = exploration or Exploration(method=options.exploration, seed=options.seed)
    owner = get_portfolio(session, portfolio)
    data = load_portfolio_data(session, owner, today=today, days=HISTORY_DAYS)
    if not data.units:
        raise ValidationError(f"portfolio {portfolio!r} has no active campaign with a daily budget")
    check_cap_keys(session, data)
    _check_history(session, data, today, lag_days)
    load_rates(session, data, today)
    data = replace(data, base_budgets=day_start_budgets(session, data.units, now))
    # DESIGN.md: the default total is the sum of current budgets. Callers that budget to the
    # portfolio's configured daily_total (the nightly job) pass it explicitly.
    limits = limits_from_caps(
        data, total_budget=total_budget, max_change=max_change,
        target_cpa=options.target_cpa, min_roas=options.min_roas,
    )
    loaded = time.perf_counter()
    min_change = options.min_change
    half_life = options.half_life_days
    plan, curves = _optimise(data, limits, objective, exploration, today, lag_days, min_change,
                             half_life)
    solved = time.perf_counter()
    proposed = _proposed_budgets(data, plan, limits, min_change)
    run = _record_run(session, data, plan, created_by, limits, lag_days, exploration, today, now)
    shift_id = None
    if not as_of_past:
        shift_id = _record_shift(session, settings, data, plan, run, created_by, proposed,
                                 now).id
    run.timings = {"load_s": loaded - started, "optimise_s": solved - loaded,
                   "total_s": time.perf_counter() - started}
    result = to_json(run.id, data, plan, shift_id, proposed, min_change,
                     curve_summaries(curves[objective], data))
    result["as_of"] = today.isoformat()
    run.outputs = result
    session.add(run)
    session.flush()
    log.info("run %s: %d units, expected %.1f conversions (baseline %.1f)", run.id,
             len(data.units), plan.expected.conversions, plan.baseline.conversions)
    return result


def _check_history(session: Session, data: PortfolioData, today: dt.date, lag_days: int) -> None:
    """Refuse, saying what to do, when no stored day falls in the fitting window."""
    first = today - dt.timedelta(days=HISTORY_DAYS)
    last = today - dt.timedelta(days=lag_days + 1)
    if len(data.history):
        days = pd.to_datetime(data.history["date"]).dt.date
        if ((days >= first) & (days <= last)).any():
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
        f"fitting window {first.isoformat()} to {last.isoformat()} (the last {lag_days} "
        "days are left out while conversions still come in): sync recent data, or plan "
        f"as of that time with --as-of {(newest + dt.timedelta(days=lag_days + 1)).isoformat()}"
    )


def _optimise(
    data: PortfolioData, limits: Any, objective: str, exploration: Exploration,
    today: dt.date, lag_days: int, min_change: float, half_life: float | None,
) -> tuple[BudgetPlan, dict[str, Any]]:
    units = data.frame()
    fits = {
        metric: fit_curves(data.history, today=today, metric=metric, lag_days=lag_days,
                           units=units, seed=exploration.seed, half_life_days=half_life)
        for metric in ("conversions", "revenue")
    }
    try:
        return optimize_budgets(
            units, fits["conversions"], fits["revenue"], limits, objective=objective,
            exploration=exploration, weekday=(today + dt.timedelta(days=1)).weekday(),
            currency=data.portfolio.reporting_currency, min_change=min_change,
        ), fits
    except InfeasibleError as e:
        raise InfeasibleLimitsError(f"the limits conflict: {e.message}") from e
    except OptimizerError as e:
        raise ValidationError(str(e)) from e


def _fingerprint(data: PortfolioData) -> str:
    digest = hashlib.sha256()
    for unit in data.units:
        digest.update(f"{unit.unit_id}={unit.current_budget};".encode())
    digest.update(str(len(data.history)).encode())
    if len(data.history):
        digest.update(f"{data.history['spend'].sum():.6f}".encode())
    return digest.hexdigest()


def _record_run(
    session: Session, data: PortfolioData, plan: BudgetPlan, actor: str, limits: Any,
    lag_days: int, exploration: Exploration, as_of: dt.date, now: dt.datetime,
) -> OptimizationRun:
    # Stamped with the caller's clock, not the wall clock: the shift's FX day and its expiry
    # follow the `now` the proposal was made at.
    run = OptimizationRun(
        created_at=now,
        portfolio_id=data.portfolio.id or 0,
        created_by=actor,
        objective=plan.objective,
        currency=plan.currency,
        total_budget=Decimal(repr(round(plan.total_budget, 6))),
        inputs={
            "units": len(data.units), "history_rows": len(data.history),
            "max_change": limits.max_change, "total_budget": limits.total_budget,
            "target_cpa": limits.target_cpa, "min_roas": limits.min_roas,
            "caps": len(data.caps), "locks": len(limits.locks), "lag_days": lag_days,
            "as_of": as_of.isoformat(),
            "exploration": {"method": exploration.method, "strength": exploration.strength,
                            "seed": exploration.seed},
        },
        expected_conversions=plan.expected.conversions,
        expected_revenue=plan.expected.revenue,
        expected_spend=plan.expected.spend,
        baseline_conversions=plan.baseline.conversions,
        baseline_revenue=plan.baseline.revenue,
        duality_gap=plan.certificate.duality_gap,
        data_fingerprint=_fingerprint(data),
    )
    session.add(run)
    session.flush()
    audit.record(session, actor=actor, action="optimization.run", entity_type="optimization_run",
                 entity_id=run.id, after={"objective": plan.objective,
                                          "expected": plan.expected.__dict__,
                                          "baseline": plan.baseline.__dict__})
    return run


def _proposed_budgets(
    data: PortfolioData, plan: BudgetPlan, limits: Any, min_change: float
) -> list[Decimal]:
    """Each unit's new budget in its currency, rounded so that every limit still holds and
    the proposal never sums to more than the total (in the reporting currency)."""
    if limits.total_budget is not None:
        total = Decimal(repr(float(limits.total_budget)))
    else:
        total = sum((u.current_budget * u.rate for u in data.units), Decimal(0))
    try:
        return settle_budgets(
            plan, [u.current_budget for u in data.units], [u.rate for u in data.units],
            [_step(u.account.currency) for u in data.units], total=total, min_change=min_change,
        )
    except InfeasibleError as e:
        raise InfeasibleLimitsError(f"the limits conflict: {e.message}") from e


def _step(currency: str) -> Decimal:
    return Decimal(1).scaleb(-decimals(currency))


def _record_shift(
    session: Session, settings: Settings, data: PortfolioData, plan: BudgetPlan,
    run: OptimizationRun, actor: str, proposed: list[Decimal], now: dt.datetime,
) -> BudgetShift:
    rows = plan.allocations
    ttl = service_config(settings).service.shift_ttl_hours
    shift = BudgetShift(
        run_id=run.id,
        portfolio_id=data.portfolio.id or 0,
        currency=plan.currency,
        total_before=Decimal(repr(round(float(rows["current_budget_reporting"].sum()), 6))),
        total_after=_reporting_total(data, proposed),
        expected_conversions_delta=plan.expected.conversions - plan.baseline.conversions,
        expected_revenue_delta=plan.expected.revenue - plan.baseline.revenue,
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
                 entity_id=shift.id, after={"status": "proposed", "run_id": run.id,
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

    older = session.scalars(
        select(BudgetShift.id).where(
            BudgetShift.portfolio_id == shift.portfolio_id,
            BudgetShift.status == "proposed",
            BudgetShift.id != shift.id,
        )
    ).all()
    for shift_id in older:
        shifts.expire(session, shifts.get_shift(session, shift_id),
                      reason=f"superseded by shift {shift.id}", actor=actor)


def _item_row(**values: Any) -> dict[str, Any]:
    """A ShiftItem's column values, the model's defaults filled in (building the model
    object itself costs ~0.1 ms, which 50,000 items turn into seconds)."""
    row = {
        name: f.get_default(call_default_factory=True)
        for name, f in ShiftItem.model_fields.items()
        if name != "id" and name not in values and not f.is_required()
    }
    row.update(values)
    return row


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
        binding_limit=_limit(row.binding_limit),
        reason=row.reason,
        **move_confidence(row),
    )


def curve_summaries(curves: Any, data: PortfolioData) -> list[dict[str, Any]]:
    """How sure each unit's response curve is, for the objective's metric: the relative
    posterior sd of its expected results at typical spend, the days it rests on, and whether
    the data pinned its shape (else it borrows its network's)."""
    at = {uid: i for i, uid in enumerate(curves.unit_ids)}
    out = []
    for unit in data.units:
        i = at.get(unit.unit_id)
        if i is None:
            out.append({"relative_sd": None, "days": 0, "identified": False})
            continue
        out.append({
            "relative_sd": round(float(curves.level_sd[i]), 4),
            "days": int(curves.n_days[i]),
            "identified": bool(curves.identified[i]),
        })
    return out


def to_json(
    run_id: str, data: PortfolioData, plan: BudgetPlan, shift_id: int | None,
    proposed: list[Decimal], min_change: float, curves: list[dict[str, Any]],
) -> dict:
    """DESIGN.md's `optimize --json` object (plus a few documented extra keys)."""
    allocations = []
    for unit, row, new_budget, curve in zip(
        data.units, plan.allocations.itertuples(index=False), proposed, curves, strict=True
    ):
        allocations.append({**_allocation(unit, row, new_budget), "curve": curve})
    return {
        "run_id": run_id,
        "shift_id": shift_id,
        "objective": plan.objective,
        "total_budget": round(plan.total_budget, 2),
        "currency": plan.currency,
        "exploration": plan.exploration,
        "expected": _outcome(plan.expected),
        "baseline": _outcome(plan.baseline),
        "unspent": round(plan.unspent, 2),
        "unspent_reason": plan.unspent_reason,
        "duality_gap": plan.certificate.duality_gap,
        "allocations": allocations,
    }


def _allocation(unit: Unit, row: Any, new_budget: Decimal) -> dict[str, Any]:
    return {
        "network": unit.network,
        "account_id": unit.account.external_id,
        "campaign_id": unit.campaign.external_id,
        "level": unit.level,
        "budget_id": unit.target_external_id,
        "currency": unit.account.currency,
        "current_budget": float(unit.current_budget),
        "proposed_budget": float(new_budget),
        "proposed_budget_reporting": round(float(new_budget * unit.rate), 2),
        "expected_conversions": round(float(row.expected_conversions), 4),
        "expected_revenue": round(float(row.expected_revenue), 2),
        "marginal_roi": float(row.marginal_return),
        "binding_limit": _limit(row.binding_limit),
        "reason": row.reason,
        **move_confidence(row),
    }


def move_confidence(row: Any) -> dict[str, float | None]:
    """How sure the move is (README "How sure each move is"): null when it does not move."""
    prob = float(row.prob_gain)
    return {
        "prob_gain": None if prob != prob else round(prob, 4),
        "effect": round(float(row.effect), 4),
        "effect_low": round(float(row.effect_low), 4),
        "effect_high": round(float(row.effect_high), 4),
    }


def _limit(value: Any) -> str | None:
    # pandas may hand back NaN for a missing label; the JSON contract wants null.
    return value if isinstance(value, str) else None


def _outcome(outcome: Any) -> dict[str, float]:
    return {"conversions": round(outcome.conversions, 4), "revenue": round(outcome.revenue, 2),
            "spend": round(outcome.spend, 2)}
