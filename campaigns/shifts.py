"""The budget shift lifecycle after a proposal (DESIGN.md):

``proposed → approved | rejected | expired``; ``approved → applying → applied |
partially_applied | failed``. Every transition names the version it read (optimistic
concurrency: the loser of a race gets 409) and writes an AuditEvent. A proposal whose data has
changed, or whose time ran out, expires instead of being approved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from campaigns import audit
from campaigns.auth import Principal
from campaigns.catalog import Page, get_portfolio, paginate
from campaigns.concurrency import versioned_update
from campaigns.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ShiftExpiredError,
    StaleVersionError,
    ValidationError,
)
from campaigns.models import BudgetShift, Campaign, ShiftItem, as_utc, utcnow
from campaigns.policy import ShiftPolicy

SHIFT_STATUSES = ("proposed", "approved", "rejected", "expired", "applying", "applied",
                  "partially_applied", "failed")
# Applies a shift's approved items to the platforms, idempotently per item, and records each
# item's outcome (applied | failed | skipped) on the rows.
ItemApplier = Callable[[Session, BudgetShift, list[ShiftItem]], Any]


@dataclass(frozen=True)
class ShiftView:
    shift: BudgetShift
    items: list[ShiftItem]

    @property
    def change_fraction(self) -> float:
        return change_fraction(self.items)


def change_fraction(items: Sequence[ShiftItem]) -> float:
    """How much of the budget a set of items moves: sum |new - old| / sum old."""
    before = sum((i.old_budget for i in items), Decimal(0))
    moved = sum((abs(i.new_budget - i.old_budget) for i in items), Decimal(0))
    if before <= 0:
        return 0.0 if moved == 0 else float("inf")
    return float(moved / before)


def list_shifts(
    session: Session, page: Page, *, status: str | None = None, portfolio: str | None = None
) -> tuple[list[BudgetShift], int]:
    stmt = select(BudgetShift).order_by(BudgetShift.id.desc())  # type: ignore[union-attr]
    if status:
        stmt = stmt.where(BudgetShift.status == status)
    if portfolio:
        stmt = stmt.where(BudgetShift.portfolio_id == get_portfolio(session, portfolio).id)
    return paginate(session, stmt, page)


def data_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a shift is added or changes state (every transition bumps its
    version): the key of cached shift lists."""
    return tuple(session.execute(select(
        func.count(BudgetShift.id), func.max(BudgetShift.id),  # type: ignore[arg-type]
        func.sum(BudgetShift.version), func.max(BudgetShift.updated_at),
    )).one())


def get_shift(session: Session, shift_id: int, *, fresh: bool = False) -> ShiftView:
    shift = session.get(BudgetShift, shift_id, populate_existing=fresh)
    if shift is None:
        raise NotFoundError(f"no shift with id {shift_id}")
    # ``fresh`` reloads every item in this one query, not a refresh (a query) per item.
    items = list(session.scalars(
        select(ShiftItem).where(ShiftItem.shift_id == shift_id).order_by(ShiftItem.id)
        .execution_options(populate_existing=fresh)
    ))
    return ShiftView(shift, items)


def stale_reason(session: Session, view: ShiftView, now: dt.datetime) -> str | None:
    """Why a proposal may no longer be approved, or None while it is good."""
    expires = as_utc(view.shift.expires_at)
    if expires is not None and now >= expires:
        return f"it expired at {expires.isoformat()}"
    ids = [i.campaign_id for i in view.items]
    current = dict(session.execute(
        select(Campaign.id, Campaign.daily_budget).where(Campaign.id.in_(ids))  # type: ignore[union-attr]
    ).all()) if ids else {}
    for item in view.items:
        if item.level != "campaign":
            continue  # ad-set and shared budgets are checked by the write-back
        budget = current.get(item.campaign_id)
        if budget is not None and Decimal(budget) != Decimal(item.old_budget):
            return (f"campaign {item.campaign_id}'s budget is now {budget}, not the "
                    f"{item.old_budget} it was built on")
    return None


def _snapshot(view: ShiftView) -> dict[str, Any]:
    return {"status": view.shift.status, "version": view.shift.version,
            "items": {str(i.id): i.status for i in view.items}}


def _transition(session: Session, view: ShiftView, version: int, from_status: str,
                values: dict[str, Any]) -> BudgetShift:
    assert view.shift.id is not None
    try:
        return versioned_update(
            session, BudgetShift, view.shift.id, version, {**values, "updated_at": utcnow()},
            what="shift", extra_where=BudgetShift.status == from_status,
        )
    except OperationalError as e:
        # SQLite refuses to upgrade a read snapshot another writer has overtaken
        # (SQLITE_BUSY_SNAPSHOT): that is exactly a lost race.
        raise StaleVersionError(
            f"shift {view.shift.id} was changed by someone else meanwhile; reload and retry"
        ) from e


def _require_status(view: ShiftView, *allowed: str) -> None:
    if view.shift.status not in allowed:
        raise ConflictError(
            f"shift {view.shift.id} is {view.shift.status}; this needs {' or '.join(allowed)}"
        )


def expire(session: Session, view: ShiftView, *, reason: str, actor: str) -> BudgetShift:
    before = _snapshot(view)
    shift = _transition(session, view, view.shift.version, "proposed",
                        {"status": "expired", "comment": reason})
    for item in view.items:
        if item.status == "pending":
            item.status = "skipped"
    session.flush()
    audit.record(session, actor=actor, action="shift.expire", entity_type="shift",
                 entity_id=shift.id, before=before,
                 after={**_snapshot(ShiftView(shift, view.items)), "reason": reason})
    return shift


def _check_fresh(session: Session, view: ShiftView, now: dt.datetime, actor: str) -> None:
    reason = stale_reason(session, view, now)
    if reason is not None:
        expire(session, view, reason=reason, actor=actor)
        raise ShiftExpiredError(f"shift {view.shift.id} has expired: {reason}")


def approve(
    session: Session, shift_id: int, *, version: int, user: Principal, policy: ShiftPolicy,
    item_ids: Sequence[int] | None = None, comment: str | None = None,
    now: dt.datetime | None = None,
) -> ShiftView:
    """Approve all items, or only ``item_ids`` (the others are rejected)."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "proposed")
    if view.shift.version != version:
        raise StaleVersionError(
            f"shift {shift_id} is at version {view.shift.version}, not {version}; reload it"
        )
    chosen = _select_items(view, item_ids)
    moved = change_fraction(chosen)
    if view.shift.created_by == user.name and moved > policy.auto_approve_max_change:
        raise PermissionDeniedError(
            f"{user.name} proposed shift {shift_id}, which moves {moved:.1%} of the budget "
            f"(above the {policy.auto_approve_max_change:.1%} auto-approve threshold); "
            "another manager must approve it"
        )
    _check_fresh(session, view, now, user.name)
    before = _snapshot(view)
    shift = _transition(session, view, version, "proposed", {
        "status": "approved", "decided_by": user.name, "decided_at": now, "comment": comment,
    })
    chosen_ids = {i.id for i in chosen}
    for item in view.items:
        item.status = "approved" if item.id in chosen_ids else "rejected"
    session.flush()
    view = ShiftView(shift, view.items)
    audit.record(session, actor=user.name, action="shift.approve", entity_type="shift",
                 entity_id=shift_id, before=before,
                 after={**_snapshot(view), "comment": comment, "change_fraction": moved})
    return view


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


def reject(
    session: Session, shift_id: int, *, version: int, user: Principal, comment: str | None,
    now: dt.datetime | None = None,
) -> ShiftView:
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "proposed")
    before = _snapshot(view)
    shift = _transition(session, view, version, "proposed", {
        "status": "rejected", "decided_by": user.name, "decided_at": now, "comment": comment,
    })
    for item in view.items:
        item.status = "rejected"
    session.flush()
    view = ShiftView(shift, view.items)
    audit.record(session, actor=user.name, action="shift.reject", entity_type="shift",
                 entity_id=shift_id, before=before, after={**_snapshot(view), "comment": comment})
    return view


def apply(
    session: Session, shift_id: int, *, version: int, user: Principal, applier: ItemApplier,
    now: dt.datetime | None = None,
) -> ShiftView:
    """approved → applying → applied | partially_applied | failed.

    Retrying a shift left in ``applying`` (a crash mid-way) is allowed: the applier skips the
    items already applied, so nothing is applied twice.
    """
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "approved", "applying")
    before = _snapshot(view)
    shift = _transition(session, view, version, view.shift.status, {"status": "applying"})
    audit.record(session, actor=user.name, action="shift.applying", entity_type="shift",
                 entity_id=shift_id, before=before, after={"status": "applying"})
    todo = [i for i in view.items if i.status in ("approved", "applying", "failed")]
    applier(session, shift, todo)
    session.flush()
    view = get_shift(session, shift_id, fresh=True)
    chosen = [i for i in view.items if i.status != "rejected"]
    done = [i for i in chosen if i.status in ("applied", "skipped")]
    final = ("applied" if len(done) == len(chosen)
             else "failed" if not done else "partially_applied")
    shift = _transition(session, view, view.shift.version, "applying", {"status": final})
    view = ShiftView(shift, view.items)
    audit.record(session, actor=user.name, action=f"shift.{final}", entity_type="shift",
                 entity_id=shift_id, before={"status": "applying"}, after=_snapshot(view))
    return view


def expire_overdue(session: Session, *, now: dt.datetime | None = None,
                   actor: str = "system") -> list[int]:
    """Expire proposals past their time or built on changed data (the nightly sweep)."""
    now = now or utcnow()
    expired = []
    ids = session.scalars(select(BudgetShift.id).where(BudgetShift.status == "proposed"))
    for shift_id in list(ids):
        view = get_shift(session, shift_id)
        reason = stale_reason(session, view, now)
        if reason is not None:
            expire(session, view, reason=reason, actor=actor)
            expired.append(shift_id)
    return expired


def writeback_applier(settings: Any = None) -> ItemApplier:
    """The production applier: the connector write-back, with connectors built from
    ``settings``. It commits the session item by item (the move to ``applying`` with the
    first), so a crash mid-way leaves each item's true state behind."""

    def apply_with_writeback(session: Session, shift: BudgetShift, items: list[ShiftItem]) -> Any:
        from campaigns import writeback

        return writeback.apply_items(
            session, shift, writeback.configured_connectors(settings), items=items
        )

    return apply_with_writeback
