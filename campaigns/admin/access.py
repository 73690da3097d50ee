"""What a token limited to some portfolios may see: written once, applied to every query.

A session opened for such a token carries its portfolio ids (:func:`limit_session`); from then
on every ORM query of that session — lists, counts, ``session.get`` by id, the look-up of a
portfolio by name, the rows an approval or an apply loads before changing them — only finds
rows of those portfolios. A row of another portfolio is simply not there: a list leaves it out
and a direct id answers 404, exactly as for an id that does not exist, so a scoped token cannot
learn which ids other brands use (a 403 would confirm them).

What belongs to a portfolio: its accounts, their campaigns, ad sets, metrics, account days and
sync runs; its plans, caps, optimisation runs, shifts and their items; the alerts raised for it;
the audit events of its plans, caps, shifts and optimisation runs. FX rates are shared by all.
Sessions without the mark (the CLI, the nightly job, global tokens) are not touched.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import String, and_, cast, event, false, or_, select
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.base import ExecutableOption
from sqlmodel import Session, SQLModel, col

from campaigns.db import table_of
from campaigns.models import (
    AccountDay,
    AdAccount,
    AdSet,
    Alert,
    AuditEvent,
    BudgetPlan,
    BudgetShift,
    Campaign,
    DailyMetric,
    MetricObservation,
    OptimizationRun,
    Portfolio,
    ShiftItem,
    SpendCap,
    SyncRun,
)

SCOPE_KEY = "budgetpilot.portfolios"


def limit_session(session: Session, portfolio_ids: Collection[int] | None) -> None:
    """From now on, ``session`` only finds rows of these portfolios (None: all)."""
    if portfolio_ids is None:
        session.info.pop(SCOPE_KEY, None)
    else:
        session.info[SCOPE_KEY] = tuple(sorted(portfolio_ids))


def session_portfolios(session: Session) -> tuple[int, ...] | None:
    return session.info.get(SCOPE_KEY)


def _criteria(ids: tuple[int, ...]) -> list[ExecutableOption]:
    # Core columns in the sub-selects, so that the criteria do not apply to themselves.
    acc, camp, shift = table_of(AdAccount).c, table_of(Campaign).c, table_of(BudgetShift).c
    accounts = select(acc.id).where(acc.portfolio_id.in_(ids))
    campaigns = select(camp.id).where(camp.account_id.in_(accounts))
    shifts = select(shift.id).where(shift.portfolio_id.in_(ids))

    def owned(model: type[SQLModel], entity_type: str) -> ColumnElement[bool]:
        table = table_of(model).c
        return and_(col(AuditEvent.entity_type) == entity_type, col(AuditEvent.entity_id).in_(
            select(cast(table.id, String)).where(table.portfolio_id.in_(ids))))

    audit = or_(
        owned(BudgetPlan, "plan"), owned(SpendCap, "cap"), owned(BudgetShift, "shift"),
        owned(OptimizationRun, "optimization_run"),
        and_(col(AuditEvent.entity_type) == "shift_item", col(AuditEvent.entity_id).in_(
            select(cast(table_of(ShiftItem).c.id, String)).where(
                table_of(ShiftItem).c.shift_id.in_(shifts)))),
    ) if ids else false()
    # Each model and what makes one of its rows this token's.
    owned_rows: list[tuple[type, Any]] = [
        (Portfolio, col(Portfolio.id).in_(ids)),
        (AdAccount, col(AdAccount.portfolio_id).in_(ids)),
        (Campaign, col(Campaign.account_id).in_(accounts)),
        (AdSet, col(AdSet.campaign_id).in_(campaigns)),
        (DailyMetric, col(DailyMetric.account_id).in_(accounts)),
        (MetricObservation, col(MetricObservation.campaign_id).in_(campaigns)),
        (AccountDay, col(AccountDay.account_id).in_(accounts)),
        (SyncRun, col(SyncRun.account_id).in_(accounts)),
        (BudgetPlan, col(BudgetPlan.portfolio_id).in_(ids)),
        (SpendCap, col(SpendCap.portfolio_id).in_(ids)),
        (OptimizationRun, col(OptimizationRun.portfolio_id).in_(ids)),
        (BudgetShift, col(BudgetShift.portfolio_id).in_(ids)),
        (ShiftItem, col(ShiftItem.shift_id).in_(shifts)),
        (Alert, col(Alert.portfolio_id).in_(ids)),
        (AuditEvent, audit),
    ]
    return [with_loader_criteria(model, where, include_aliases=True)
            for model, where in owned_rows]


@event.listens_for(OrmSession, "do_orm_execute")
def _only_own_portfolios(state: ORMExecuteState) -> None:
    ids = state.session.info.get(SCOPE_KEY)
    if ids is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already found through the criteria
    state.statement = state.statement.options(*_criteria(ids))
