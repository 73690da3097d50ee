"""Deciding a proposal: approve (all or some items), reject, or expire it when its time ran
out or its data changed. Every decision names the version it read (the loser of a race gets
409) and writes one audit event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from campaigns.admin.auth import Principal
from campaigns.columns import as_utc, utcnow
from campaigns.db import among
from campaigns.errors import (
    NotFoundError,
    PermissionDeniedError,
    ShiftExpiredError,
    StaleVersionError,
    ValidationError,
)
from campaigns.models import BudgetShift, Campaign, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.states import (
    ItemStatus,
    Note,
    ShiftStatus,
    require_move,
    transition,
    transition_items,
)
from campaigns.shifts.views import ShiftView, change_fraction, get_shift, snapshot


def stale_reason(session: Session, view: ShiftView, now: dt.datetime) -> str | None:
    """Why a proposal may no longer be approved, or None while it is good."""
    expires = as_utc(view.shift.expires_at)
    if expires is not None and now >= expires:
        return f"it expired at {expires.isoformat()}"
    ids = [i.campaign_id for i in view.items]
    current: dict[int | None, Decimal | None] = dict(session.execute(
        select(col(Campaign.id), col(Campaign.daily_budget)).where(among(col(Campaign.id), ids))
    ).all()) if ids else {}
    for item in view.items:
        if item.level != "campaign":
            continue  # ad-set and shared budgets are checked by the write-back
        budget = current.get(item.campaign_id)
        if budget is not None and Decimal(budget) != Decimal(item.old_budget):
            return (f"campaign {item.campaign_id}'s budget is now {budget}, not the "
                    f"{item.old_budget} it was built on")
    return None


def expire(session: Session, view: ShiftView, *, reason: str, actor: str) -> BudgetShift:
    """proposed → expired (out of time, data changed, or superseded by a newer proposal);
    its items are skipped."""
    before = snapshot(view)
    _decide_items(session, view.items, lambda _item: ItemStatus.SKIPPED)
    after = _after(view.items, {"reason": reason})
    return transition(session, view.shift, ShiftStatus.EXPIRED, version=view.shift.version,
                      values={"comment": reason},
                      note=Note(actor, "shift.expire", before, after))


def expire_unloaded(session: Session, shift_id: int, *, reason: str, actor: str) -> BudgetShift:
    """:func:`expire` without loading the items as objects: a superseded proposal's 10,000
    items cost about a second of every ``optimize`` as ORM rows. The same moves and the same
    audit event, from the items' ids and statuses alone."""
    shift = session.get(BudgetShift, shift_id)
    if shift is None:
        raise NotFoundError(f"no shift with id {shift_id}")
    session.flush()  # pending changes to the items are read back, not overwritten
    rows = session.execute(
        select(col(ShiftItem.id), col(ShiftItem.status))
        .where(col(ShiftItem.shift_id) == shift_id).order_by(col(ShiftItem.id))).all()
    before = {"status": shift.status, "version": shift.version,
              "items": {str(i): status for i, status in rows}}
    skipped = ItemStatus.SKIPPED.value
    items = {str(i): skipped if status == ItemStatus.PENDING else status for i, status in rows}
    session.execute(
        update(ShiftItem).where(col(ShiftItem.shift_id) == shift_id,
                                col(ShiftItem.status) == ItemStatus.PENDING.value)
        .values(status=skipped).execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):  # items loaded earlier show the move
        if isinstance(obj, ShiftItem) and obj.shift_id == shift_id \
                and obj.status == ItemStatus.PENDING:
            set_committed_value(obj, "status", skipped)

    def after(moved: BudgetShift) -> dict[str, Any]:
        return {"status": moved.status, "version": moved.version, "items": items,
                "reason": reason}

    return transition(session, shift, ShiftStatus.EXPIRED, version=shift.version,
                      values={"comment": reason},
                      note=Note(actor, "shift.expire", before, after))


def expire_overdue(session: Session, *, now: dt.datetime | None = None,
                   actor: str = "system") -> list[int]:
    """Expire proposals past their time or built on changed data (the nightly sweep)."""
    now = now or utcnow()
    expired = []
    ids = session.scalars(
        select(col(BudgetShift.id)).where(col(BudgetShift.status) == ShiftStatus.PROPOSED.value))
    for shift_id in list(ids):
        assert shift_id is not None  # a primary key
        view = get_shift(session, shift_id)
        reason = stale_reason(session, view, now)
        if reason is not None:
            expire(session, view, reason=reason, actor=actor)
            expired.append(shift_id)
    return expired


def approve(
    session: Session, shift_id: int, *, version: int, user: Principal, policy: ShiftPolicy,
    item_ids: Sequence[int] | None = None, comment: str | None = None,
    item_comments: Mapping[int, str] | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    """Approve all items, or only ``item_ids`` (the others are rejected and keep their
    budgets); ``item_comments`` (item id -> text) are kept on the items."""
    now = now or utcnow()
    view = _decidable(session, shift_id, ShiftStatus.APPROVED, version)
    chosen = _select_items(view, item_ids)
    _check_items(view, item_comments or {})
    moved = change_fraction(chosen, reporting_rates(session, view.shift, chosen))
    if view.shift.created_by == user.name and moved > policy.auto_approve_max_change:
        raise PermissionDeniedError(
            f"{user.name} proposed shift {shift_id}, which moves {moved:.1%} of the budget "
            f"(above the {policy.auto_approve_max_change:.1%} auto-approve threshold); "
            "another manager must approve it"
        )
    _check_fresh(session, view, now, user.name)
    before = snapshot(view)
    chosen_ids = {i.id for i in chosen}
    _decide_items(session, view.items, lambda item: (
        ItemStatus.APPROVED if item.id in chosen_ids else ItemStatus.REJECTED))
    notes = _note_items(view, item_comments or {})
    after = _after(view.items, {"comment": comment, "change_fraction": moved, **notes})
    shift = transition(session, view.shift, ShiftStatus.APPROVED, version=version, values={
        "decided_by": user.name, "decided_at": now, "comment": comment},
        note=Note(user.name, "shift.approve", before, after))
    return ShiftView(shift, view.items)


def reject(
    session: Session, shift_id: int, *, version: int, user: Principal, comment: str | None,
    item_comments: Mapping[int, str] | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    now = now or utcnow()
    view = get_shift(session, shift_id)
    require_move(view.shift, ShiftStatus.REJECTED)
    _check_items(view, item_comments or {})
    before = snapshot(view)
    _decide_items(session, view.items, lambda _item: ItemStatus.REJECTED)
    notes = _note_items(view, item_comments or {})
    after = _after(view.items, {"comment": comment, **notes})
    shift = transition(session, view.shift, ShiftStatus.REJECTED, version=version, values={
        "decided_by": user.name, "decided_at": now, "comment": comment},
        note=Note(user.name, "shift.reject", before, after))
    return ShiftView(shift, view.items)


def _decidable(session: Session, shift_id: int, new: ShiftStatus, version: int) -> ShiftView:
    """The shift, if it may move to ``new`` now and is at ``version`` (else 409)."""
    view = get_shift(session, shift_id)
    require_move(view.shift, new)
    if view.shift.version != version:
        raise StaleVersionError(
            f"shift {shift_id} is at version {view.shift.version}, not {version}; reload it"
        )
    return view


def _decide_items(session: Session, items: Sequence[ShiftItem], status_of: Any) -> None:
    """Each still pending item takes ``status_of(item)``, one statement per new status."""
    by_status: dict[ItemStatus, list[ShiftItem]] = {}
    for item in items:
        if item.status == ItemStatus.PENDING:
            by_status.setdefault(status_of(item), []).append(item)
    for new, group in by_status.items():
        transition_items(session, group, new)
    session.flush()


def _after(items: list[ShiftItem], extra: dict[str, Any]) -> Any:
    """The audit event's ``after``: the moved shift with its decided items, and ``extra``."""
    def after(shift: BudgetShift) -> dict[str, Any]:
        return {**snapshot(ShiftView(shift, items)), **extra}

    return after


def _check_fresh(session: Session, view: ShiftView, now: dt.datetime, actor: str) -> None:
    reason = stale_reason(session, view, now)
    if reason is not None:
        expire(session, view, reason=reason, actor=actor)
        raise ShiftExpiredError(f"shift {view.shift.id} has expired: {reason}")


def _select_items(view: ShiftView, item_ids: Sequence[int] | None) -> list[ShiftItem]:
    if item_ids is None:
        return list(view.items)
    known = {i.id: i for i in view.items}
    unknown = sorted(set(item_ids) - set(known))
    if unknown:
        raise ValidationError(f"items {unknown} are not part of shift {view.shift.id}")
    if not item_ids:
        raise ValidationError("approve at least one item (or reject the shift)")
    return [known[i] for i in dict.fromkeys(item_ids)]


def _check_items(view: ShiftView, item_comments: Mapping[int, str]) -> None:
    unknown = sorted(set(item_comments) - {i.id for i in view.items})
    if unknown:
        raise ValidationError(f"comments name items {unknown}, which are not part of shift "
                              f"{view.shift.id}")


def _note_items(view: ShiftView, item_comments: Mapping[int, str]) -> dict[str, Any]:
    """Keep each item's comment on it; what the audit event records of them."""
    notes = {}
    for item in view.items:
        text = (item_comments.get(item.id) or "").strip()  # type: ignore[arg-type]
        if text:
            item.comment = text
            notes[str(item.id)] = text
    return {"item_comments": notes} if notes else {}
