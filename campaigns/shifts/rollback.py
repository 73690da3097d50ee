"""Undoing an applied shift: a new proposal, linked to it by ``rollback_of``, that puts each
applied item's budget back and goes through approval like any other."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Session

from campaigns import audit
from campaigns.admin.auth import Principal
from campaigns.columns import utcnow
from campaigns.errors import ConflictError
from campaigns.models import BudgetShift, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.states import OPEN, ROLLBACK_FROM, SETTLED, ItemStatus, require
from campaigns.shifts.views import ShiftView, get_shift, rollbacks_of, snapshot


def rollback(
    session: Session, shift_id: int, *, user: Principal, policy: ShiftPolicy,
    reason: str | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    """Propose the inverse of an applied (or partially applied) shift: each applied item's
    budget back to its old value, as a new ``proposed`` shift that goes through approval like
    any other (its proposer, ``user``, cannot approve it alone when it moves much)."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    require(view.shift, *ROLLBACK_FROM)
    _refuse_second_rollback(session, shift_id)
    awaiting = [i.id for i in view.items if i.status == ItemStatus.EXPORTED]
    if awaiting:
        # A rollback puts back budgets we know were set; an exported one may never have been
        # uploaded, and undoing it blind could set a budget nobody chose.
        raise ConflictError(
            f"shift {shift_id}: items {', '.join(map(str, awaiting))} were exported to a file "
            "and not yet seen on the platform; import the platform's report showing them, or "
            f"confirm them (`budgetpilot shifts confirm {shift_id}`), then roll back")
    applied = [i for i in view.items
               if i.status in SETTLED and i.applied_budget is not None]
    if not applied:
        raise ConflictError(f"shift {shift_id} has no applied item to roll back")
    shift = _inverse_shift(session, view, applied, user=user, policy=policy, reason=reason,
                           now=now)
    items = [_inverse_item(shift, i, shift_id) for i in applied]
    session.add_all(items)
    session.flush()
    new = ShiftView(shift, items)
    audit.record(session, actor=user.name, action="shift.rollback_proposed",
                 entity_type="shift", entity_id=shift.id,
                 after={**snapshot(new), "rollback_of": shift_id, "reason": reason})
    audit.record(session, actor=user.name, action="shift.rollback_requested",
                 entity_type="shift", entity_id=shift_id,
                 after={"rollback_shift_id": shift.id, "items": [i.id for i in applied],
                        "reason": reason})
    return new


def _refuse_second_rollback(session: Session, shift_id: int) -> None:
    for other in rollbacks_of(session, shift_id):
        row = session.get(BudgetShift, other)
        assert row is not None  # listed by the query just above
        status = row.status
        if status in (*OPEN, *ROLLBACK_FROM):
            raise ConflictError(
                f"shift {shift_id} already has a rollback: shift {other} ({status})"
            )


def _inverse_shift(
    session: Session, view: ShiftView, applied: list[ShiftItem], *, user: Principal,
    policy: ShiftPolicy, reason: str | None, now: dt.datetime,
) -> BudgetShift:
    old = view.shift
    # Totals are in the reporting currency, each item's delta converted at the rate the
    # shift was measured with; the total covers the whole portfolio, so it is not a rate.
    rates = reporting_rates(session, old, applied)
    delta = sum((((i.applied_budget or i.new_budget) - i.old_budget) * rates[i.currency]
                 for i in applied), Decimal(0))
    part, whole = len(applied), len(view.items)
    shift = BudgetShift(
        portfolio_id=old.portfolio_id, currency=old.currency,
        total_before=(old.total_before + delta).quantize(Decimal("0.000001")),
        total_after=old.total_before,
        expected_conversions_delta=_negated(old.expected_conversions_delta, part, whole),
        expected_revenue_delta=_negated(old.expected_revenue_delta, part, whole),
        created_by=user.name, created_at=now, updated_at=now,
        expires_at=now + dt.timedelta(hours=policy.shift_ttl_hours),
        comment=reason or f"rollback of shift {old.id}", rollback_of=old.id,
    )
    session.add(shift)
    session.flush()
    return shift


def _inverse_item(shift: BudgetShift, item: ShiftItem, shift_id: int) -> ShiftItem:
    assert shift.id is not None  # flushed by _inverse_shift
    assert item.applied_budget is not None  # only applied items are rolled back
    return ShiftItem(
        shift_id=shift.id, campaign_id=item.campaign_id, adset_id=item.adset_id,
        level=item.level, target_external_id=item.target_external_id, currency=item.currency,
        old_budget=item.applied_budget, new_budget=item.old_budget,
        expected_conversions_old=item.expected_conversions_new,
        expected_conversions_new=item.expected_conversions_old,
        expected_revenue_old=item.expected_revenue_new,
        expected_revenue_new=item.expected_revenue_old,
        reason=f"rollback of shift {shift_id} item {item.id}: back to {item.old_budget}",
    )


def _negated(value: float | None, part: int, whole: int) -> float | None:
    """The expected effect of undoing ``part`` of ``whole`` items (pro rata)."""
    return None if value is None or not whole else -value * part / whole
