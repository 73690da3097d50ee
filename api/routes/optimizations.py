"""Optimisation runs: start one (the same engine as `budgetpilot optimize`), list and read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from api import schemas_shifts as s
from api.deps import Optimizer, Reader, SessionDep, SettingsDep
from api.params import Name, PageDep
from campaigns.catalog import get_portfolio, paginate
from campaigns.errors import NotFoundError, UnavailableError
from campaigns.models import BudgetShift, OptimizationRun

router = APIRouter(prefix="/optimizations", tags=["optimizations"])


@router.get("", response_model=s.OptimizationRunsPublic)
def list_runs(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None
) -> s.OptimizationRunsPublic:
    stmt = select(OptimizationRun).order_by(OptimizationRun.created_at.desc())  # type: ignore[attr-defined]
    if portfolio:
        stmt = stmt.where(OptimizationRun.portfolio_id == get_portfolio(session, portfolio).id)
    rows, count = paginate(session, stmt, page)
    return s.OptimizationRunsPublic(data=rows, count=count)  # type: ignore[arg-type]


@router.get("/{run_id}", response_model=s.OptimizationRunPublic)
def get_run(session: SessionDep, _: Reader, run_id: str) -> OptimizationRun:
    run = session.get(OptimizationRun, run_id[:32])
    if run is None:
        raise NotFoundError(f"no optimisation run {run_id!r}")
    return run


@router.post("", response_model=s.OptimizationResult, status_code=status.HTTP_201_CREATED)
def run_optimization(
    session: SessionDep, settings: SettingsDep, user: Optimizer, body: s.OptimizationRequest
) -> s.OptimizationResult:
    """Propose tomorrow's budgets for a portfolio; records a run and a proposed shift."""
    try:
        from campaigns import optimization
    except ImportError as e:
        raise UnavailableError("the optimiser service (campaigns.optimization) is not "
                               "installed") from e
    result: Any = optimization.propose(  # type: ignore[attr-defined]
        session, settings, portfolio=body.portfolio, total_budget=body.total_budget,
        objective=body.objective, max_change=body.max_change, created_by=user.name,
    )
    run_id = result["run_id"] if isinstance(result, dict) else result.run_id
    run = session.get(OptimizationRun, run_id)
    assert run is not None
    shift_id = session.scalars(select(BudgetShift.id).where(BudgetShift.run_id == run_id)).first()
    payload = result if isinstance(result, dict) else result.to_json()
    return s.OptimizationResult(run=s.OptimizationRunPublic.model_validate(run),
                                shift_id=shift_id, result=payload)
