"""Monthly spend plans (finance) and spend caps (managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api import schemas as s
from api.deps import CapEditor, PlanEditor, Reader, SessionDep
from api.params import Name, OptionalDay, PageDep, PathId
from campaigns.admin import caps, plans
from campaigns.models import BudgetPlan, SpendCap

router = APIRouter(tags=["plans and caps"])
Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/plans", response_model=s.PlansPublic)
def list_plans(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None,
    month: OptionalDay = None, scope: s.PlanScope | None = None,
) -> s.PlansPublic:
    rows, count = plans.list_plans(session, page, portfolio=portfolio, month=month, scope=scope)
    return s.PlansPublic(data=rows, count=count)


@router.post("/plans", response_model=s.PlanPublic, status_code=status.HTTP_201_CREATED)
def create_plan(session: SessionDep, user: PlanEditor, body: s.PlanCreate) -> BudgetPlan:
    return plans.create_plan(session, actor=user.name, **body.model_dump())


@router.get("/plans/{plan_id}", response_model=s.PlanPublic)
def get_plan(session: SessionDep, _: Reader, plan_id: PathId) -> BudgetPlan:
    return plans.get_plan(session, plan_id)


@router.put("/plans/{plan_id}", response_model=s.PlanPublic)
def update_plan(
    session: SessionDep, user: PlanEditor, plan_id: PathId, body: s.PlanUpdate
) -> BudgetPlan:
    return plans.update_plan(session, plan_id, actor=user.name, **body.model_dump())


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_plan(
    session: SessionDep, user: PlanEditor, plan_id: PathId, version: Version = None
) -> None:
    plans.delete_plan(session, plan_id, version=version, actor=user.name)


@router.get("/caps", response_model=s.CapsPublic)
def list_caps(
    session: SessionDep, _: Reader, page: PageDep, portfolio: Name = None,
    scope: s.CapScope | None = None,
) -> s.CapsPublic:
    rows, count = caps.list_caps(session, page, portfolio=portfolio, scope=scope)
    return s.CapsPublic(data=rows, count=count)


@router.post("/caps", response_model=s.CapPublic, status_code=status.HTTP_201_CREATED)
def create_cap(session: SessionDep, user: CapEditor, body: s.CapCreate) -> SpendCap:
    return caps.create_cap(session, actor=user.name, **body.model_dump())


@router.get("/caps/{cap_id}", response_model=s.CapPublic)
def get_cap(session: SessionDep, _: Reader, cap_id: PathId) -> SpendCap:
    return caps.get_cap(session, cap_id)


@router.put("/caps/{cap_id}", response_model=s.CapPublic)
def update_cap(session: SessionDep, user: CapEditor, cap_id: PathId, body: s.CapUpdate) -> SpendCap:
    return caps.update_cap(session, cap_id, actor=user.name, **body.model_dump())


@router.delete("/caps/{cap_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_cap(
    session: SessionDep, user: CapEditor, cap_id: PathId, version: Version = None
) -> None:
    caps.delete_cap(session, cap_id, version=version, actor=user.name)
