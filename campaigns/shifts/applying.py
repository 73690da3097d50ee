"""Applying a decided shift: ``approved → applying → applied | partially_applied | failed``,
applying again (the failed and unattempted items only), and the nightly retry of items whose
backoff has passed. The platform calls belong to :mod:`campaigns.shifts.writeback`; this
module moves the shift."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.auth import Principal
from campaigns.columns import utcnow
from campaigns.db import session_scope
from campaigns.errors import ConflictError, StaleVersionError
from campaigns.models import AdAccount, BudgetShift, Campaign, Portfolio, ShiftItem
from campaigns.shifts.delivery import Delivery, file_items, ids_text, networks_of
from campaigns.shifts.report import ItemOutcome
from campaigns.shifts.retry import RETRY
from campaigns.shifts.states import (
    ItemStatus,
    Note,
    ShiftStatus,
    conditional_move,
    final_status,
    require_move,
    transition,
)
from campaigns.shifts.views import ShiftView, get_shift, snapshot

# The items an apply sends: approved ones, failed ones (retried), and claims left by a crash.
APPLICABLE = (ItemStatus.APPROVED, ItemStatus.APPLYING, ItemStatus.FAILED)


class ItemApplier(Protocol):
    """Applies a shift's items to the platforms, claiming each (so no item is written
    twice), and records each item's outcome (applied | failed | skipped) on the rows.
    Returns a :class:`campaigns.shifts.report.ApplyReport`."""

    def __call__(
        self, session: Session, shift: BudgetShift, items: list[ShiftItem], /, *,
        actor: str, now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> Any: ...


def apply(
    session: Session, shift_id: int, *, version: int, user: Principal, applier: ItemApplier,
    now: dt.datetime | None = None, dry_run: bool = False, due_only: bool = False,
    delivery: Delivery | None = None,
) -> ShiftView:
    """approved → applying → applied | partially_applied | failed | exported.

    Applying again is how failed items are retried: on a ``partially_applied`` or
    ``failed`` shift only the failed and unattempted items are sent (``due_only``: only those
    whose backoff has passed, as the nightly job does). A shift left ``applying`` by a crash
    may be applied again too. Items are claimed one by one by the applier, so two requests at
    once never write an item twice; the one that wins nothing gets a 409 and writes nothing.

    With ``delivery``, items on networks without a write connector are never sent to the
    applier: they go by file (``shifts export``), and the report says so; a shift with
    nothing else to apply is refused (409). Without it every item goes to the applier.

    With ``dry_run`` nothing changes but one audit event: the view carries the report of
    what would be applied.
    """
    now = now or utcnow()
    view = get_shift(session, shift_id)
    require_move(view.shift, ShiftStatus.APPLYING)
    if view.shift.version != version:
        raise StaleVersionError(
            f"shift {shift_id} is at version {view.shift.version}, not {version}; reload it"
        )
    todo = [i for i in view.items if i.status in APPLICABLE]
    by_file = ({} if delivery is None else
               file_items(session, [*todo, *(i for i in view.items
                                             if i.status == ItemStatus.EXPORTED)], delivery))
    todo = [i for i in todo if i.id not in by_file]
    if by_file and not todo:
        waiting = [f.item.id for f in by_file.values() if f.item.status in APPLICABLE]
        raise ConflictError(
            f"shift {shift_id} has nothing to apply through a connector: "
            + (f"items {ids_text(waiting)} on {', '.join(networks_of(by_file.values()))} go by "
               f"file: `budgetpilot shifts export {shift_id}`" if waiting else
               f"its items await confirmation: `budgetpilot shifts confirm {shift_id}`"))
    if dry_run:
        view = _dry_run(session, view, todo, applier, actor=user.name, now=now)
        _note_by_file(view.report, by_file.values())
        return view
    before = snapshot(view)
    shift = transition(session, view.shift, ShiftStatus.APPLYING, version=version,
                       note=Note(user.name, "shift.applying", before,
                                 {"status": ShiftStatus.APPLYING.value}))
    report = applier(session, shift, todo, actor=user.name, now=now, due_only=due_only)
    if report is not None and report.claimed == 0:
        _nothing_claimed(shift_id, report, retry=before["status"] != ShiftStatus.APPLYING)
    session.flush()
    view = settle(session, shift_id, actor=user.name, now=now)
    _note_by_file(report, by_file.values())
    return ShiftView(view.shift, view.items, report)


def _note_by_file(report: Any, found: Any) -> None:
    """The report says which items this apply left to a file (and which await one)."""
    if report is None:
        return
    for f in sorted(found, key=lambda f: f.item.id):
        item = f.item
        label = f"{item.level}:{item.target_external_id}"
        if item.status == ItemStatus.EXPORTED:
            report.add(ItemOutcome(item.id, label, "exported", item.new_budget, error=(
                f"exported to the {f.account.network} file; awaiting an import showing it "
                f"or `budgetpilot shifts confirm {item.shift_id}`")))
        else:
            report.add(ItemOutcome(item.id, label, "by_file", item.new_budget, error=(
                f"{f.account.network} has no write connector: "
                f"`budgetpilot shifts export {item.shift_id}`")))


def _dry_run(session: Session, view: ShiftView, todo: list[ShiftItem], applier: ItemApplier,
             *, actor: str, now: dt.datetime) -> ShiftView:
    report = applier(session, view.shift, todo, actor=actor, now=now, dry_run=True)
    audit.record(session, actor=actor, action="shift.apply_dry_run",
                 entity_type="shift", entity_id=view.shift.id, before=snapshot(view),
                 after={"dry_run": True, "would_apply": _outcomes(report)})
    return ShiftView(view.shift, view.items, report)


def _nothing_claimed(shift_id: int, report: Any, *, retry: bool) -> None:
    """A request that won no item answers 409 and (nothing committed) writes nothing."""
    if report.busy:
        raise ConflictError(
            f"shift {shift_id} is being applied by another request ({report.busy} items in "
            "progress); nothing was written: reload it in a moment"
        )
    if retry and report.outcomes and not report.done:
        waiting = "; ".join(f"item {o.item_id}: {o.error}" for o in report.outcomes[:5])
        raise ConflictError(f"shift {shift_id}: nothing to apply now ({waiting})")


def settle(session: Session, shift_id: int, *, actor: str, now: dt.datetime) -> ShiftView:
    """Give an ``applying`` shift its outcome once none of its items is in flight.

    Every applier records its items (committed) before it settles, so of two requests that
    finish at once the later one sees every outcome; the status moves with one conditional
    update, so only one of them makes (and audits) the move.
    """
    view = get_shift(session, shift_id, fresh=True)
    if view.shift.status != ShiftStatus.APPLYING:
        return view
    final = final_status(view.items)
    if final is None:
        return view  # another request is still at it and settles when it is done
    won = conditional_move(session, BudgetShift, [shift_id], final, values={
        "version": BudgetShift.version + 1, "updated_at": now})
    view = get_shift(session, shift_id, fresh=True)
    if won:
        audit.record(session, actor=actor, action=f"shift.{final}", entity_type="shift",
                     entity_id=shift_id, before={"status": ShiftStatus.APPLYING.value},
                     after=snapshot(view))
    return view


def _outcomes(report: Any) -> list[dict[str, Any]]:
    return [
        {"item_id": o.item_id, "target": o.target, "outcome": o.outcome,
         "platform_budget": o.platform_budget, "new_budget": o.new_budget, "error": o.error}
        for o in getattr(report, "outcomes", [])
    ]


def retry_due(
    engine: Engine, portfolio: str, *, user: Principal, applier: ItemApplier,
    now: dt.datetime | None = None, paused: Collection[str] = (),
    delivery: Delivery | None = None,
) -> list[str]:
    """Apply again the failed items of the portfolio's partially applied or failed shifts
    whose backoff has passed (the nightly job's retry). Returns one line per retried shift;
    a shift another request is applying right now is left to it, and one with an item in a
    ``paused`` account (``network:external_id``) waits, whole, for the resume (a
    ``"shift N waits: ..."`` line)."""
    now = now or utcnow()
    lines = []
    for shift_id, version in _due_shifts(engine, portfolio, now, delivery):
        blocked = sorted(_accounts_to_apply(engine, shift_id) & set(paused))
        if blocked:
            lines.append(f"shift {shift_id} waits: accounts {', '.join(blocked)} are paused")
            continue
        try:
            with session_scope(engine) as session:
                view = apply(session, shift_id, version=version, user=user, applier=applier,
                             now=now, due_only=True, delivery=delivery)
            lines.append(f"shift {shift_id} retried: {view.shift.status}")
        except ConflictError as e:  # someone else is applying it, or it moved on
            lines.append(f"shift {shift_id} not retried: {e.message}")
    return lines


def _accounts_to_apply(engine: Engine, shift_id: int) -> set[str]:
    """``network:external_id`` of the accounts of the shift's items an apply would send."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(AdAccount.network), col(AdAccount.external_id)).distinct()
            .join(Campaign, col(Campaign.account_id) == col(AdAccount.id))
            .join(ShiftItem, col(ShiftItem.campaign_id) == col(Campaign.id))
            .where(col(ShiftItem.shift_id) == shift_id,
                   col(ShiftItem.status).in_([s.value for s in APPLICABLE]))).all()
    return {f"{network}:{external_id}" for network, external_id in rows}


def _due_shifts(engine: Engine, portfolio: str, now: dt.datetime,
                delivery: Delivery | None = None) -> list[tuple[int, int]]:
    """(id, version) of the portfolio's shifts with an item to try again now. With
    ``delivery``, only items a connector writes count: an item that goes by file (or was
    exported) is never retried on a platform."""
    retried = (ShiftStatus.PARTIALLY_APPLIED.value, ShiftStatus.FAILED.value)
    with Session(engine) as session:
        portfolio_id = session.scalar(
            select(col(Portfolio.id)).where(col(Portfolio.name) == portfolio))
        if portfolio_id is None:
            return []  # not synced yet: nothing was ever applied
        stmt = (
            select(col(BudgetShift.id), col(BudgetShift.version)).distinct()
            .join(ShiftItem, col(ShiftItem.shift_id) == col(BudgetShift.id))
            .where(col(BudgetShift.portfolio_id) == portfolio_id,
                   col(BudgetShift.status).in_(retried),
                   or_(col(ShiftItem.status) == ItemStatus.APPROVED.value,
                       and_(col(ShiftItem.status) == ItemStatus.FAILED.value, RETRY.due(now))))
            .order_by(col(BudgetShift.id))
        )
        if delivery is not None:
            stmt = (stmt.join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
                    .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
                    .where(col(AdAccount.source).not_in(sorted(delivery.file_sources))))
        return [(r[0], r[1]) for r in session.execute(stmt).all()]


def writeback_applier(settings: Any = None, *, connectors: Any = None) -> ItemApplier:
    """The in-process applier: the connector write-back, with connectors built from
    ``settings`` (or looked up with ``connectors(account)``). It claims and commits item by
    item (the move to ``applying`` with the first claim), so a crash mid-way leaves each
    item's true state behind. Whether a Celery worker applies instead is the caller's choice
    (:func:`campaigns.jobs.appliers.production_applier`)."""

    def apply_with_writeback(
        session: Session, shift: BudgetShift, items: list[ShiftItem], /, *, actor: str,
        now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> Any:
        from campaigns.shifts import writeback

        assert shift.id is not None
        lookup = connectors or writeback.configured_connectors(settings)
        return writeback.apply_items_in_session(
            session, shift.id, lookup, items=items, actor=actor, now=now, dry_run=dry_run,
            due_only=due_only)

    return apply_with_writeback


def start_applying(session: Session, view: ShiftView, *, user: Principal) -> BudgetShift:
    """The shift's move to ``applying`` (checked and audited), before any item is sent; a
    caller sending the items elsewhere (the nightly workflow's tasks) settles it after."""
    require_move(view.shift, ShiftStatus.APPLYING)
    return transition(session, view.shift, ShiftStatus.APPLYING, version=view.shift.version,
                      note=Note(user.name, "shift.applying", snapshot(view),
                                {"status": ShiftStatus.APPLYING.value}))
