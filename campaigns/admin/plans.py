"""Monthly spend plans (in the portfolio's reporting currency); every change is audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.concurrency import versioned_update
from campaigns.errors import ConflictError, NotFoundError, ValidationError
from campaigns.lookup import Page, get_portfolio, paginate
from campaigns.models import BudgetPlan
from campaigns.scopes import validate_scope


def _snapshot(plan: BudgetPlan) -> dict[str, object]:
    return {"month": plan.month, "scope": plan.scope, "scope_key": plan.scope_key,
            "currency": plan.currency, "planned_spend": plan.planned_spend,
            "hard": plan.hard, "version": plan.version}


def list_plans(
    session: Session, page: Page, *, portfolio: str | None = None, month: dt.date | None = None,
    scope: str | None = None,
) -> tuple[list[BudgetPlan], int]:
    stmt = select(BudgetPlan).order_by(col(BudgetPlan.month), col(BudgetPlan.scope),
                                       col(BudgetPlan.scope_key))
    if portfolio:
        stmt = stmt.where(col(BudgetPlan.portfolio_id) == get_portfolio(session, portfolio).id)
    if month:
        stmt = stmt.where(col(BudgetPlan.month) == month.replace(day=1))
    if scope:
        stmt = stmt.where(col(BudgetPlan.scope) == scope)
    return paginate(session, stmt, page)


def get_plan(session: Session, plan_id: int) -> BudgetPlan:
    plan = session.get(BudgetPlan, plan_id)
    if plan is None:
        raise NotFoundError(f"no plan with id {plan_id}")
    return plan


def create_plan(
    session: Session, *, portfolio: str, month: dt.date, scope: str, scope_key: str,
    planned_spend: Decimal, currency: str | None, actor: str, hard: bool = False,
) -> BudgetPlan:
    p = get_portfolio(session, portfolio)
    assert p.id is not None
    if month.day != 1:
        raise ValidationError("month must be the first day of a month")
    if currency and currency.upper() != p.reporting_currency:
        raise ValidationError(
            f"plans are in the portfolio's reporting currency {p.reporting_currency}, "
            f"not {currency.upper()}"
        )
    key = validate_scope(session, p.id, scope, scope_key)
    exists = session.scalars(select(col(BudgetPlan.id)).where(
        col(BudgetPlan.portfolio_id) == p.id, col(BudgetPlan.month) == month,
        col(BudgetPlan.scope) == scope, col(BudgetPlan.scope_key) == key,
    )).first()
    if exists is not None:
        raise ConflictError(f"a plan for {month:%Y-%m} {scope} {key!r} exists (id {exists}); "
                            "update it instead")
    plan = BudgetPlan(portfolio_id=p.id, month=month, scope=scope, scope_key=key,
                      currency=p.reporting_currency, planned_spend=planned_spend, hard=hard)
    session.add(plan)
    session.flush()
    audit.record(session, actor=actor, action="plan.create", entity_type="plan",
                 entity_id=plan.id, after=_snapshot(plan))
    return plan


def update_plan(
    session: Session, plan_id: int, *, planned_spend: Decimal, version: int, actor: str,
    hard: bool | None = None,
) -> BudgetPlan:
    before = _snapshot(get_plan(session, plan_id))
    values = {"planned_spend": planned_spend, "updated_at": utcnow()}
    if hard is not None:
        values["hard"] = hard
    plan = versioned_update(session, BudgetPlan, plan_id, version, values, what="plan")
    audit.record(session, actor=actor, action="plan.update", entity_type="plan",
                 entity_id=plan_id, before=before, after=_snapshot(plan))
    return plan


def delete_plan(session: Session, plan_id: int, *, version: int | None, actor: str) -> None:
    plan = get_plan(session, plan_id)
    if version is not None and version != plan.version:
        raise ConflictError(f"plan {plan_id} is at version {plan.version}, not {version}")
    audit.record(session, actor=actor, action="plan.delete", entity_type="plan",
                 entity_id=plan_id, before=_snapshot(plan))
    session.delete(plan)
    session.flush()
