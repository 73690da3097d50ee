"""Settling exported items: an import or sync that shows the new budget makes an item
``applied`` (with the budget seen), a manager's confirmation makes it ``confirmed``; each
happens once (a conditional update from ``exported``), and the shift then takes the status
its items give it (``exported`` → ``applied``).

Ingest cannot call this (shifts sit above it): whatever runs an import or a sync — the CLI,
the nightly job — calls :func:`settle_observed` after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.auth import Principal
from campaigns.columns import utcnow
from campaigns.db import session_scope
from campaigns.errors import ConflictError, ValidationError
from campaigns.models import AdSet, BudgetShift, Campaign, ShiftItem
from campaigns.shifts.bulk_file import amount
from campaigns.shifts.recording import store_budget
from campaigns.shifts.states import (
    SETTLED,
    SHIFT_ALLOWED,
    ItemStatus,
    ShiftStatus,
    conditional_move,
    final_status,
)
from campaigns.shifts.views import ShiftView, get_shift, snapshot

# Shift statuses whose status follows its items when one is exported or settled (an
# ``applying`` shift is settled by its applier when it is done).
FOLLOWS_ITEMS = (ShiftStatus.APPROVED, ShiftStatus.PARTIALLY_APPLIED, ShiftStatus.FAILED,
                 ShiftStatus.EXPORTED)


def reconcile(session: Session, shift_id: int, *, actor: str, now: dt.datetime) -> ShiftView:
    """Move the shift to what its items now say, if that is a move of the table: an
    approved shift with every item exported becomes ``exported``; an exported one whose
    items are all settled becomes ``applied``. An approved shift with items still to apply
    waits for its apply."""
    session.flush()
    view = get_shift(session, shift_id, fresh=True)
    old = ShiftStatus(view.shift.status)
    if old not in FOLLOWS_ITEMS:
        return view
    if old == ShiftStatus.APPROVED and any(i.status == ItemStatus.APPROVED for i in view.items):
        return view
    new = final_status(view.items)
    if new is None or new == old or new not in SHIFT_ALLOWED[old]:
        return view
    won = conditional_move(session, BudgetShift, [shift_id], new,
                           where=col(BudgetShift.status) == old.value,
                           values={"version": BudgetShift.version + 1, "updated_at": now})
    view = get_shift(session, shift_id, fresh=True)
    if won:
        audit.record(session, actor=actor, action=f"shift.{new}", entity_type="shift",
                     entity_id=shift_id, before={"status": old.value}, after=snapshot(view))
    return view


def observed_budgets(session: Session, items: Iterable[ShiftItem]) -> dict[int, Decimal | None]:
    """Item id -> the budget our rows hold now for its target (as the last import or sync
    stored it)."""
    out: dict[int, Decimal | None] = {}
    for item in items:
        assert item.id is not None
        if item.level == "adset":
            value = session.scalar(select(col(AdSet.daily_budget)).where(
                col(AdSet.campaign_id) == item.campaign_id,
                col(AdSet.external_id) == item.target_external_id))
        else:
            value = session.scalar(select(col(Campaign.daily_budget)).where(
                col(Campaign.id) == item.campaign_id))
        out[item.id] = None if value is None else Decimal(value)
    return out


def settle_observed(session: Session, *, actor: str = "import",
                    now: dt.datetime | None = None) -> list[int]:
    """Every exported item whose budget our rows now show (to the currency's decimals)
    becomes ``applied`` with that budget. Returns the items settled now; an item already
    settled is never settled again."""
    now = now or utcnow()
    exported = list(session.scalars(
        select(ShiftItem).where(col(ShiftItem.status) == ItemStatus.EXPORTED.value)
        .order_by(col(ShiftItem.id)).execution_options(populate_existing=True)))
    seen = observed_budgets(session, exported)
    settled: list[int] = []
    shifts: set[int] = set()
    for item in exported:
        assert item.id is not None
        budget = seen[item.id]
        if budget is None or amount(budget, item.currency) != amount(item.new_budget,
                                                                     item.currency):
            continue
        if not _move(session, item, ItemStatus.APPLIED,
                     {"applied_budget": budget, "applied_at": now, "error": None}):
            continue  # another request settled it first
        audit.record(session, actor=actor, action="shift_item.applied", entity_type="shift_item",
                     entity_id=item.id, before={"status": ItemStatus.EXPORTED.value},
                     after={"status": ItemStatus.APPLIED.value, "applied_budget": budget,
                            "seen_by": actor})
        settled.append(item.id)
        shifts.add(item.shift_id)
    for shift_id in sorted(shifts):
        reconcile(session, shift_id, actor=actor, now=now)
    return settled


def settle_after_ingest(engine: Engine, *, actor: str, now: dt.datetime | None = None
                        ) -> list[int]:
    """:func:`settle_observed` in its own committed unit of work (after an import or sync)."""
    with session_scope(engine) as session:
        return settle_observed(session, actor=actor, now=now)


@dataclass
class Confirmation:
    view: ShiftView
    confirmed: list[int] = field(default_factory=list)  # settled by this request
    already: list[int] = field(default_factory=list)  # settled before: nothing written


def confirm(session: Session, shift_id: int, *, user: Principal,
            item_ids: Sequence[int] | None = None, now: dt.datetime | None = None
            ) -> Confirmation:
    """A manager says the platform took the exported items (all, or ``item_ids``): each
    becomes ``confirmed`` with its new budget, who confirmed and when. Items settled before
    are reported, not written again; an item that was never exported is refused."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    known = {i.id: i for i in view.items}
    if item_ids is not None:
        unknown = sorted(set(item_ids) - set(known))
        if unknown:
            raise ValidationError(f"items {unknown} are not part of shift {shift_id}")
        chosen = [known[i] for i in dict.fromkeys(item_ids)]
    else:
        chosen = [i for i in view.items if i.status in (ItemStatus.EXPORTED, *SETTLED)
                  and i.exported_at is not None]
    refused = [i for i in chosen if i.status not in (ItemStatus.EXPORTED, *SETTLED)
               or (i.status in SETTLED and i.exported_at is None)]
    if refused:
        raise ConflictError("; ".join(
            f"item {i.id} is {i.status}, not exported" for i in refused)
            + f": only exported items are confirmed (`budgetpilot shifts export {shift_id}`)")
    out = Confirmation(view)
    for item in chosen:
        assert item.id is not None
        if item.status == ItemStatus.EXPORTED and _move(session, item, ItemStatus.CONFIRMED, {
                "applied_budget": item.new_budget, "applied_at": now, "confirmed_by": user.name,
                "confirmed_at": now, "error": None}):
            audit.record(session, actor=user.name, action="shift_item.confirmed",
                         entity_type="shift_item", entity_id=item.id,
                         before={"status": ItemStatus.EXPORTED.value},
                         after={"status": ItemStatus.CONFIRMED.value,
                                "applied_budget": item.new_budget})
            fresh = session.get(ShiftItem, item.id)
            assert fresh is not None
            store_budget(session, fresh, item.new_budget, now)
            out.confirmed.append(item.id)
        else:
            out.already.append(item.id)
    out.view = reconcile(session, shift_id, actor=user.name, now=now)
    return out


def _move(session: Session, item: ShiftItem, new: ItemStatus, values: dict[str, object]
          ) -> bool:
    """exported → ``new``, in one conditional update: of two requests, one moves it."""
    assert item.id is not None
    moved = conditional_move(session, ShiftItem, [item.id], new,
                             where=col(ShiftItem.status) == ItemStatus.EXPORTED.value,
                             values=values)
    if moved:
        session.refresh(item)
    return bool(moved)
