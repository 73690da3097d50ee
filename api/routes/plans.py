"""Monthly spend plans (finance) and spend caps (managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from api.deps import CapEditor, PlanEditor, Reader, SessionDep
from api.params import Name, OptionalDay, PageDep, PathId
from api.schemas.caps import CapCreate, CapPublic, CapScope, CapsPublic, CapUpdate
from api.schemas.plans import (
    PlanCreate,
    PlanPublic,
    PlanScope,
    PlansImported,
    PlansPublic,
    PlanUpdate,
)
from campaigns.admin import caps, plans
from campaigns.admin.plans_import import import_plans
from campaigns.errors import ImportRejected
from campaigns.models import BudgetPlan, SpendCap

router = APIRouter(tags=["plans and caps"])
Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/plans", response_model=PlansPublic)
def list_plans(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None,
    month: OptionalDay = None, scope: PlanScope | None = None,
) -> PlansPublic:
    rows, count = plans.list_plans(session, page, portfolio=portfolio, month=month, scope=scope)
    return PlansPublic(data=rows, count=count)


@router.post("/plans", response_model=PlanPublic, status_code=status.HTTP_201_CREATED)
def create_plan(session: SessionDep, user: PlanEditor, body: PlanCreate) -> BudgetPlan:
    return plans.create_plan(session, actor=user.name, **body.model_dump())


@router.post("/plans/import", response_model=PlansImported)
def import_plans_file(
    session: SessionDep, user: PlanEditor,
    body: Annotated[bytes, Body(media_type="text/csv", description=(
        "CSV with month, scope, scope_key, planned_spend and optionally currency, hard "
        "(README: Plans from a file)"))] = b"",
    portfolio: Annotated[str, Query(max_length=100)] = "default",
    dry_run: bool = False,
) -> PlansImported:
    """Create or update a month's plans from a CSV file, all or nothing: a bad cell is a 422
    naming every bad line and column, and nothing is written."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportRejected("plans file", [f"not UTF-8 text: {e}"]) from None
    result = import_plans(session, text, portfolio=portfolio, actor=user.name)
    if dry_run:
        session.rollback()
    return PlansImported(created=result.created, updated=result.updated,
                         unchanged=result.unchanged, plan_ids=result.plan_ids, dry_run=dry_run)


@router.get("/plans/{plan_id}", response_model=PlanPublic)
def get_plan(session: SessionDep, _: Reader, plan_id: PathId) -> BudgetPlan:
    return plans.get_plan(session, plan_id)


@router.put("/plans/{plan_id}", response_model=PlanPublic)
def update_plan(
    session: SessionDep, user: PlanEditor, plan_id: PathId, body: PlanUpdate
) -> BudgetPlan:
    return plans.update_plan(session, plan_id, actor=user.name, **body.model_dump())


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_plan(
    session: SessionDep, user: PlanEditor, plan_id: PathId, version: Version = None
) -> None:
    plans.delete_plan(session, plan_id, version=version, actor=user.name)


@router.get("/caps", response_model=CapsPublic)
def list_caps(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None,
    scope: CapScope | None = None,
) -> CapsPublic:
    rows, count = caps.list_caps(session, page, portfolio=portfolio, scope=scope)
    return CapsPublic(data=rows, count=count)


@router.post("/caps", response_model=CapPublic, status_code=status.HTTP_201_CREATED)
def create_cap(session: SessionDep, user: CapEditor, body: CapCreate) -> SpendCap:
    return caps.create_cap(session, actor=user.name, **body.model_dump())


@router.get("/caps/{cap_id}", response_model=CapPublic)
def get_cap(session: SessionDep, _: Reader, cap_id: PathId) -> SpendCap:
    return caps.get_cap(session, cap_id)


@router.put("/caps/{cap_id}", response_model=CapPublic)
def update_cap(session: SessionDep, user: CapEditor, cap_id: PathId, body: CapUpdate) -> SpendCap:
    return caps.update_cap(session, cap_id, actor=user.name, **body.model_dump())


@router.delete("/caps/{cap_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_cap(
    session: SessionDep, user: CapEditor, cap_id: PathId, version: Version = None
) -> None:
    caps.delete_cap(session, cap_id, version=version, actor=user.name)
