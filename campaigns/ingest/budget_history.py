"""The audit trail of one campaign's daily budget: every shift item that touched it (who
proposed and decided it, what was applied when, old → new) and the audit events of those
shifts, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from campaigns.lookup import get
from campaigns.models import AuditEvent, BudgetShift, Campaign, ShiftItem

MAX_ROWS = 500


@dataclass(frozen=True)
class BudgetChange:
    """One shift item of the campaign."""

    shift_id: int
    item_id: int
    target_external_id: str
    level: str
    currency: str
    status: str  # the item's: pending, approved, rejected, applied, failed, ...
    old_budget: Decimal
    new_budget: Decimal
    applied_budget: Decimal | None
    applied_at: dt.datetime | None
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    rollback_of: int | None
    comment: str | None


@dataclass(frozen=True)
class BudgetEvent:
    """An audit event of a shift that holds one of the campaign's items."""

    at: dt.datetime
    actor: str
    action: str
    shift_id: int
    old_budget: Decimal | None
    new_budget: Decimal | None


@dataclass(frozen=True)
class BudgetHistory:
    campaign_id: int
    changes: list[BudgetChange]
    events: list[BudgetEvent] | None  # None: the caller may not read the audit log


def budget_history(session: Session, campaign_id: int, *, with_events: bool) -> BudgetHistory:
    get(session, Campaign, campaign_id, "campaign")
    stmt = (select(ShiftItem, BudgetShift)
            .join(BudgetShift, col(BudgetShift.id) == col(ShiftItem.shift_id))
            .where(col(ShiftItem.campaign_id) == campaign_id)
            .order_by(col(BudgetShift.created_at).desc(), col(ShiftItem.id).desc())
            .limit(MAX_ROWS))
    changes = [
        BudgetChange(
            shift_id=shift.id or 0, item_id=item.id or 0,
            target_external_id=item.target_external_id, level=item.level,
            currency=item.currency, status=item.status, old_budget=item.old_budget,
            new_budget=item.new_budget, applied_budget=item.applied_budget,
            applied_at=item.applied_at, proposed_by=shift.created_by,
            proposed_at=shift.created_at, decided_by=shift.decided_by,
            decided_at=shift.decided_at, rollback_of=shift.rollback_of,
            comment=item.comment,
        )
        for item, shift in session.execute(stmt).all()
    ]
    return BudgetHistory(campaign_id, changes,
                         _events(session, changes) if with_events else None)


def _events(session: Session, changes: list[BudgetChange]) -> list[BudgetEvent]:
    """The events of the shifts holding the campaign's items, and of those items themselves
    (``shift_item.applied`` says what the platform held before and what it holds now)."""
    if not changes:
        return []
    shifts = {str(c.shift_id): c for c in changes}  # at most one item per budget and shift
    items = {str(c.item_id): c for c in changes}
    e = AuditEvent
    stmt = (select(e).where(or_(
                and_(col(e.entity_type) == "shift", col(e.entity_id).in_(list(shifts))),
                and_(col(e.entity_type) == "shift_item", col(e.entity_id).in_(list(items)))))
            .order_by(col(e.at).desc(), col(e.id).desc()).limit(MAX_ROWS))
    out = []
    for event in session.execute(stmt).scalars():
        move = (shifts if event.entity_type == "shift" else items)[event.entity_id]
        before, after = event.before or {}, event.after or {}
        out.append(BudgetEvent(
            at=event.at, actor=event.actor, action=event.action, shift_id=move.shift_id,
            old_budget=_amount(before.get("platform_budget"), move.old_budget),
            new_budget=_amount(after.get("applied_budget"), move.new_budget)))
    return out


def _amount(value: object, default: Decimal) -> Decimal:
    # Audit JSON keeps amounts as strings or numbers; the item's own figure when absent.
    return default if value is None else Decimal(str(value))
