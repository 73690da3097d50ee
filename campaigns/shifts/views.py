"""Reading shifts: one shift with its items, lists, and the figures derived from them (how
much of the budget a shift moves, the daily total once it is decided)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import object_session
from sqlmodel import Session, col

from campaigns.db import among
from campaigns.errors import FxRateMissingError, NotFoundError
from campaigns.lookup import Page, get_portfolio, paginate
from campaigns.models import BudgetShift, ShiftItem
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.states import KEEP_BUDGET, ShiftStatus


@dataclass(frozen=True)
class ShiftView:
    shift: BudgetShift
    items: list[ShiftItem]
    report: Any = None  # what an apply did (or, dry run, would do)

    @property
    def change_fraction(self) -> float:
        # The service opens sqlmodel sessions; object_session() is typed with SQLAlchemy's.
        session = cast(Session | None, object_session(self.shift))
        assert session is not None, "a shift view is read in a session"
        return change_fraction(self.items, reporting_rates(session, self.shift, self.items))

    @property
    def decided(self) -> bool:
        """A manager (or the nightly job) has approved or rejected it."""
        return is_decided(self.shift)


def is_decided(shift: BudgetShift) -> bool:
    """Approved or rejected (then applied, failed or rolled back): no longer a proposal
    and not one that expired undecided."""
    return shift.status not in (ShiftStatus.PROPOSED, ShiftStatus.EXPIRED)


def change_fraction(items: Sequence[ShiftItem], rates: Mapping[str, Decimal]) -> float:
    """How much of the budget a set of items moves: sum |new - old| / sum old, in the
    reporting currency (`rates`: item currency -> rate), so a yen moves as much as it is
    worth, not as much as its number."""
    before = sum((i.old_budget * rates[i.currency] for i in items), Decimal(0))
    moved = sum((abs(i.new_budget - i.old_budget) * rates[i.currency] for i in items),
                Decimal(0))
    if before <= 0:
        return 0.0 if moved == 0 else float("inf")
    return float(moved / before)


def approved_total(total_before: Decimal, items: Sequence[ShiftItem],
                   rates: Mapping[str, Decimal]) -> Decimal:
    """The daily total (reporting currency) once a decided shift's approved items are
    applied: every item not approved keeps its budget."""
    moved = sum(((i.new_budget - i.old_budget) * rates[i.currency] for i in items
                 if i.status not in KEEP_BUDGET), Decimal(0))
    return (total_before + moved).quantize(Decimal("0.01"))


def approved_totals(session: Session, shifts: Sequence[BudgetShift]) -> dict[int, Decimal]:
    """shift id -> :func:`approved_total` for each decided shift of a list (its items read
    in one statement), so a history shows what a partial approval leaves, not the whole
    proposal. A shift whose FX rate is missing is left out (the list still answers)."""
    decided = [s for s in shifts if s.id is not None and is_decided(s)]
    items: dict[int, list[ShiftItem]] = {}
    for item in session.scalars(select(ShiftItem).where(
            among(col(ShiftItem.shift_id), (s.id for s in decided)))):
        items.setdefault(item.shift_id, []).append(item)
    out: dict[int, Decimal] = {}
    for shift in decided:
        mine = items.get(shift.id or 0, [])
        try:
            out[shift.id or 0] = approved_total(shift.total_before, mine,
                                                reporting_rates(session, shift, mine))
        except FxRateMissingError:
            continue
    return out


def list_shifts(
    session: Session, page: Page, *, status: ShiftStatus | None = None,
    portfolio: str | None = None,
) -> tuple[list[BudgetShift], int]:
    stmt = select(BudgetShift).order_by(col(BudgetShift.id).desc())
    if status:
        stmt = stmt.where(col(BudgetShift.status) == status.value)
    if portfolio:
        stmt = stmt.where(col(BudgetShift.portfolio_id) == get_portfolio(session, portfolio).id)
    return paginate(session, stmt, page)


def data_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a shift is added or changes state (every transition bumps its
    version): the key of cached shift lists."""
    return tuple(session.execute(select(
        func.count(col(BudgetShift.id)), func.max(col(BudgetShift.id)),
        func.sum(col(BudgetShift.version)), func.max(col(BudgetShift.updated_at)),
    )).one())


def get_shift(session: Session, shift_id: int, *, fresh: bool = False) -> ShiftView:
    shift = session.get(BudgetShift, shift_id, populate_existing=fresh)
    if shift is None:
        raise NotFoundError(f"no shift with id {shift_id}")
    # ``fresh`` reloads every item in this one query, not a refresh (a query) per item.
    items = list(session.scalars(
        select(ShiftItem).where(col(ShiftItem.shift_id) == shift_id).order_by(col(ShiftItem.id))
        .execution_options(populate_existing=fresh)
    ))
    return ShiftView(shift, items)


def rollbacks_of(session: Session, shift_id: int) -> list[int]:
    """The shifts proposed to undo ``shift_id``, oldest first."""
    return list(session.scalars(
        select(col(BudgetShift.id)).where(col(BudgetShift.rollback_of) == shift_id)
        .order_by(col(BudgetShift.id))
    ))


def snapshot(view: ShiftView) -> dict[str, Any]:
    """A shift's state as the audit log records it before and after a move."""
    return {"status": view.shift.status, "version": view.shift.version,
            "items": {str(i.id): i.status for i in view.items}}
