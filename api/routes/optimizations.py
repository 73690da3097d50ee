"""Optimisation runs: start one (the same engine as `budgetpilot optimize`), list and read."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlmodel import col

from api.deps import Optimizer, Reader, SessionDep, SettingsDep
from api.params import Name, PageDep
from api.schemas import optimizations as s
from campaigns.errors import NotFoundError
from campaigns.lookup import get_portfolio, paginate
from campaigns.models import OptimizationRun
from campaigns.optimization import proposals as optimization

router = APIRouter(prefix="/optimizations", tags=["optimizations"])


@router.get("", response_model=s.OptimizationRunsPublic)
def list_runs(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None
) -> s.OptimizationRunsPublic:
    stmt = select(OptimizationRun).order_by(col(OptimizationRun.created_at).desc())
    if portfolio:
        stmt = stmt.where(col(OptimizationRun.portfolio_id) == get_portfolio(session, portfolio).id)
    rows, count = paginate(session, stmt, page)
    return s.OptimizationRunsPublic(data=rows, count=count)


@router.get("/{run_id}", response_model=s.OptimizationRunPublic)
def get_run(session: SessionDep, _: Reader, run_id: str) -> OptimizationRun:
    run = session.get(OptimizationRun, run_id[:32])
    if run is None:
        raise NotFoundError(f"no optimisation run {run_id!r}")
    return run


@router.post("", response_model=s.OptimizationResult, status_code=status.HTTP_201_CREATED)
def run_optimization(
    session: SessionDep, settings: SettingsDep, user: Optimizer, body: s.OptimizationCreate
) -> s.OptimizationResult:
    """Propose tomorrow's budgets for a portfolio; records a run and a proposed shift."""
    result = optimization.propose(
        session, settings, portfolio=body.portfolio, total_budget=body.total_budget,
        objective=body.objective, max_change=body.max_change, created_by=user.name,
    )
    run = session.get(OptimizationRun, result.run_id)
    assert run is not None
    return s.OptimizationResult(run=s.OptimizationRunPublic.model_validate(run),
                                shift_id=result.shift_id, result=result.to_json())
