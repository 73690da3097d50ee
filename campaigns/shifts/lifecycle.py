"""The budget shift lifecycle after a proposal (DESIGN.md):

``proposed → approved | rejected | expired``; ``approved → applying → applied |
partially_applied | failed``. Every transition names the version it read (optimistic
concurrency: the loser of a race gets 409) and writes an AuditEvent. A proposal whose data has
changed, or whose time ran out, expires instead of being approved. A ``partially_applied`` or
``failed`` shift is applied again (its failed items only); an applied one is undone by a
rollback: a new proposal linked to it by ``rollback_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import object_session
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.auth import Principal
from campaigns.concurrency import versioned_update
from campaigns.db import session_scope
from campaigns.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ShiftExpiredError,
    StaleVersionError,
    ValidationError,
)
from campaigns.ingest.catalog import Page, get_portfolio, paginate
from campaigns.models import BudgetShift, Campaign, Portfolio, ShiftItem, as_utc, utcnow
from campaigns.policy import ShiftPolicy
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.writeback import RETRY

SHIFT_STATUSES = ("proposed", "approved", "rejected", "expired", "applying", "applied",
                  "partially_applied", "failed")


class ItemApplier(Protocol):
    """Applies a shift's items to the platforms, claiming each (so no item is written
    twice), and records each item's outcome (applied | failed | skipped) on the rows.
    Returns a :class:`campaigns.shifts.writeback.ApplyReport`."""

    def __call__(
        self, session: Session, shift: BudgetShift, items: list[ShiftItem], /, *,
        actor: str, now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> Any: ...


@dataclass(frozen=True)
class ShiftView:
    shift: BudgetShift
    items: list[ShiftItem]
    report: Any = None  # what an apply did (or, dry run, would do)

    @property
    def change_fraction(self) -> float:
        session = object_session(self.shift)
        assert isinstance(session, Session), "a shift view is read in a session"
        return change_fraction(self.items, reporting_rates(session, self.shift, self.items))


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


KEEP_BUDGET = ("rejected", "skipped")  # item statuses that leave the budget where it was


def approved_total(total_before: Decimal, items: Sequence[ShiftItem],
                   rates: Mapping[str, Decimal]) -> Decimal:
    """The daily total (reporting currency) once a decided shift's approved items are
    applied: every item not approved keeps its budget."""
    moved = sum(((i.new_budget - i.old_budget) * rates[i.currency] for i in items
                 if i.status not in KEEP_BUDGET), Decimal(0))
    return (total_before + moved).quantize(Decimal("0.01"))


def list_shifts(
    session: Session, page: Page, *, status: str | None = None, portfolio: str | None = None
) -> tuple[list[BudgetShift], int]:
    stmt = select(BudgetShift).order_by(col(BudgetShift.id).desc())
    if status:
        stmt = stmt.where(col(BudgetShift.status) == status)
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


def stale_reason(session: Session, view: ShiftView, now: dt.datetime) -> str | None:
    """Why a proposal may no longer be approved, or None while it is good."""
    expires = as_utc(view.shift.expires_at)
    if expires is not None and now >= expires:
        return f"it expired at {expires.isoformat()}"
    ids = [i.campaign_id for i in view.items]
    current = dict(session.execute(
        select(col(Campaign.id), col(Campaign.daily_budget)).where(col(Campaign.id).in_(ids))
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
            what="shift", extra_where=col(BudgetShift.status) == from_status,
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
    item_comments: Mapping[int, str] | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    """Approve all items, or only ``item_ids`` (the others are rejected and keep their
    budgets); ``item_comments`` (item id -> text) are kept on the items."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "proposed")
    if view.shift.version != version:
        raise StaleVersionError(
            f"shift {shift_id} is at version {view.shift.version}, not {version}; reload it"
        )
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
    before = _snapshot(view)
    shift = _transition(session, view, version, "proposed", {
        "status": "approved", "decided_by": user.name, "decided_at": now, "comment": comment,
    })
    chosen_ids = {i.id for i in chosen}
    for item in view.items:
        item.status = "approved" if item.id in chosen_ids else "rejected"
    notes = _note_items(view, item_comments or {})
    session.flush()
    view = ShiftView(shift, view.items)
    audit.record(session, actor=user.name, action="shift.approve", entity_type="shift",
                 entity_id=shift_id, before=before,
                 after={**_snapshot(view), "comment": comment, "change_fraction": moved,
                        **notes})
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


def reject(
    session: Session, shift_id: int, *, version: int, user: Principal, comment: str | None,
    item_comments: Mapping[int, str] | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "proposed")
    _check_items(view, item_comments or {})
    before = _snapshot(view)
    shift = _transition(session, view, version, "proposed", {
        "status": "rejected", "decided_by": user.name, "decided_at": now, "comment": comment,
    })
    for item in view.items:
        item.status = "rejected"
    notes = _note_items(view, item_comments or {})
    session.flush()
    view = ShiftView(shift, view.items)
    audit.record(session, actor=user.name, action="shift.reject", entity_type="shift",
                 entity_id=shift_id, before=before,
                 after={**_snapshot(view), "comment": comment, **notes})
    return view


APPLY_FROM = ("approved", "applying", "partially_applied", "failed")


def apply(
    session: Session, shift_id: int, *, version: int, user: Principal, applier: ItemApplier,
    now: dt.datetime | None = None, dry_run: bool = False, due_only: bool = False,
) -> ShiftView:
    """approved → applying → applied | partially_applied | failed.

    Applying again is how failed items are retried: on a ``partially_applied`` or
    ``failed`` shift only the failed and unattempted items are sent (``due_only``: only those
    whose backoff has passed, as the nightly job does). A shift left ``applying`` by a crash
    may be applied again too. Items are claimed one by one by the applier, so two requests at
    once never write an item twice; the one that wins nothing gets a 409 and writes nothing.

    With ``dry_run`` nothing changes but one audit event: the view carries the report of
    what would be applied.
    """
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, *APPLY_FROM)
    if view.shift.version != version:
        raise StaleVersionError(
            f"shift {shift_id} is at version {view.shift.version}, not {version}; reload it"
        )
    todo = [i for i in view.items if i.status in ("approved", "applying", "failed")]
    if dry_run:
        report = applier(session, view.shift, todo, actor=user.name, now=now, dry_run=True)
        audit.record(session, actor=user.name, action="shift.apply_dry_run",
                     entity_type="shift", entity_id=shift_id, before=_snapshot(view),
                     after={"dry_run": True, "would_apply": _outcomes(report)})
        return ShiftView(view.shift, view.items, report)
    before = _snapshot(view)
    shift = _transition(session, view, version, view.shift.status, {"status": "applying"})
    audit.record(session, actor=user.name, action="shift.applying", entity_type="shift",
                 entity_id=shift_id, before=before, after={"status": "applying"})
    report = applier(session, shift, todo, actor=user.name, now=now, due_only=due_only)
    if report is not None and report.claimed == 0:
        _nothing_claimed(shift_id, report, retry=before["status"] != "applying")
    session.flush()
    view = settle(session, shift_id, actor=user.name, now=now)
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
    if view.shift.status != "applying":
        return view
    chosen = [i for i in view.items if i.status != "rejected"]
    if any(i.status == "applying" for i in chosen):
        return view  # another request is still at it and settles when it is done
    done = [i for i in chosen if i.status in ("applied", "skipped")]
    final = ("applied" if len(done) == len(chosen)
             else "failed" if not done else "partially_applied")
    won = session.exec(  # exec, not execute: typed as the CursorResult an UPDATE gives
        update(BudgetShift)
        .where(col(BudgetShift.id) == shift_id, col(BudgetShift.status) == "applying")
        .values(status=final, version=col(BudgetShift.version) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    view = get_shift(session, shift_id, fresh=True)
    if won:
        audit.record(session, actor=actor, action=f"shift.{final}", entity_type="shift",
                     entity_id=shift_id, before={"status": "applying"}, after=_snapshot(view))
    return view


def _outcomes(report: Any) -> list[dict[str, Any]]:
    return [
        {"item_id": o.item_id, "target": o.target, "outcome": o.outcome,
         "platform_budget": o.platform_budget, "new_budget": o.new_budget, "error": o.error}
        for o in getattr(report, "outcomes", [])
    ]


def retry_due(
    engine: Engine, portfolio: str, *, user: Principal, applier: ItemApplier,
    now: dt.datetime | None = None,
) -> list[str]:
    """Apply again the failed items of the portfolio's partially applied or failed shifts
    whose backoff has passed (the nightly job's retry). Returns one line per retried shift;
    a shift another request is applying right now is left to it."""
    now = now or utcnow()
    with Session(engine) as session:
        portfolio_id = session.scalar(
            select(col(Portfolio.id)).where(col(Portfolio.name) == portfolio))
        if portfolio_id is None:
            return []  # not synced yet: nothing was ever applied
        due = list(session.execute(
            select(col(BudgetShift.id), col(BudgetShift.version)).distinct()
            .join(ShiftItem, col(ShiftItem.shift_id) == col(BudgetShift.id))
            .where(col(BudgetShift.portfolio_id) == portfolio_id,
                   col(BudgetShift.status).in_(("partially_applied", "failed")),
                   or_(col(ShiftItem.status) == "approved",
                       and_(col(ShiftItem.status) == "failed", RETRY.due(now))))
            .order_by(col(BudgetShift.id))
        ).all())
    lines = []
    for shift_id, version in due:
        try:
            with session_scope(engine) as session:
                view = apply(session, shift_id, version=version, user=user, applier=applier,
                             now=now, due_only=True)
            lines.append(f"shift {shift_id} retried: {view.shift.status}")
        except ConflictError as e:  # someone else is applying it, or it moved on
            lines.append(f"shift {shift_id} not retried: {e.message}")
    return lines


PENDING = ("proposed", "approved", "applying")


def rollbacks_of(session: Session, shift_id: int) -> list[int]:
    """The shifts proposed to undo ``shift_id``, oldest first."""
    return list(session.scalars(
        select(col(BudgetShift.id)).where(col(BudgetShift.rollback_of) == shift_id)
        .order_by(col(BudgetShift.id))
    ))


def rollback(
    session: Session, shift_id: int, *, user: Principal, policy: ShiftPolicy,
    reason: str | None = None, now: dt.datetime | None = None,
) -> ShiftView:
    """Propose the inverse of an applied (or partially applied) shift: each applied item's
    budget back to its old value, as a new ``proposed`` shift that goes through approval like
    any other (its proposer, ``user``, cannot approve it alone when it moves much)."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    _require_status(view, "applied", "partially_applied")
    for other in rollbacks_of(session, shift_id):
        status = session.get(BudgetShift, other).status  # type: ignore[union-attr]
        if status in (*PENDING, "applied", "partially_applied"):
            raise ConflictError(
                f"shift {shift_id} already has a rollback: shift {other} ({status})"
            )
    applied = [i for i in view.items if i.status == "applied" and i.applied_budget is not None]
    if not applied:
        raise ConflictError(f"shift {shift_id} has no applied item to roll back")
    old = view.shift
    # Totals are in the reporting currency, each item's delta converted at the rate the
    # shift was measured with; the total covers the whole portfolio, so it is not a rate.
    rates = reporting_rates(session, old, applied)
    delta = sum((((i.applied_budget or i.new_budget) - i.old_budget) * rates[i.currency]
                 for i in applied), Decimal(0))
    shift = BudgetShift(
        portfolio_id=old.portfolio_id, currency=old.currency,
        total_before=(old.total_before + delta).quantize(Decimal("0.000001")),
        total_after=old.total_before,
        expected_conversions_delta=_negated(old.expected_conversions_delta, len(applied),
                                            len(view.items)),
        expected_revenue_delta=_negated(old.expected_revenue_delta, len(applied),
                                        len(view.items)),
        created_by=user.name, created_at=now, updated_at=now,
        expires_at=now + dt.timedelta(hours=policy.shift_ttl_hours),
        comment=reason or f"rollback of shift {shift_id}", rollback_of=shift_id,
    )
    session.add(shift)
    session.flush()
    assert shift.id is not None
    items = [
        ShiftItem(
            shift_id=shift.id, campaign_id=i.campaign_id, adset_id=i.adset_id, level=i.level,
            target_external_id=i.target_external_id, currency=i.currency,
            # ``applied`` holds only items with an applied budget: the 0 is never used
            old_budget=i.applied_budget or Decimal(0), new_budget=i.old_budget,
            expected_conversions_old=i.expected_conversions_new,
            expected_conversions_new=i.expected_conversions_old,
            expected_revenue_old=i.expected_revenue_new,
            expected_revenue_new=i.expected_revenue_old,
            reason=f"rollback of shift {shift_id} item {i.id}: back to {i.old_budget}",
        )
        for i in applied
    ]
    session.add_all(items)
    session.flush()
    new = ShiftView(shift, items)
    audit.record(session, actor=user.name, action="shift.rollback_proposed",
                 entity_type="shift", entity_id=shift.id,
                 after={**_snapshot(new), "rollback_of": shift_id, "reason": reason})
    audit.record(session, actor=user.name, action="shift.rollback_requested",
                 entity_type="shift", entity_id=shift_id,
                 after={"rollback_shift_id": shift.id, "items": [i.id for i in applied],
                        "reason": reason})
    return new


def _negated(value: float | None, part: int, whole: int) -> float | None:
    """The expected effect of undoing ``part`` of ``whole`` items (pro rata)."""
    return None if value is None or not whole else -value * part / whole


def expire_overdue(session: Session, *, now: dt.datetime | None = None,
                   actor: str = "system") -> list[int]:
    """Expire proposals past their time or built on changed data (the nightly sweep)."""
    now = now or utcnow()
    expired = []
    ids = session.scalars(select(col(BudgetShift.id)).where(col(BudgetShift.status) == "proposed"))
    for shift_id in list(ids):
        assert shift_id is not None  # a primary key
        view = get_shift(session, shift_id)
        reason = stale_reason(session, view, now)
        if reason is not None:
            expire(session, view, reason=reason, actor=actor)
            expired.append(shift_id)
    return expired


def writeback_applier(settings: Any = None, *, connectors: Any = None) -> ItemApplier:
    """The production applier: the connector write-back, with connectors built from
    ``settings`` (or looked up with ``connectors(account)``). It claims and commits item by
    item (the move to ``applying`` with the first claim), so a crash mid-way leaves each
    item's true state behind. With ``[queue] broker_url`` (and no ``connectors`` given) each
    account's items are applied by a Celery worker (:mod:`campaigns.jobs.writeback_fanout`)."""
    broker = getattr(getattr(settings, "queue", None), "broker_url", None)
    if broker and connectors is None:
        from campaigns.jobs.writeback_fanout import workers_applier

        return workers_applier(settings)

    def apply_with_writeback(
        session: Session, shift: BudgetShift, items: list[ShiftItem], /, *, actor: str,
        now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> Any:
        from campaigns.shifts import writeback

        lookup = connectors or writeback.configured_connectors(settings)
        return writeback.apply_items(session, shift, lookup, items=items, actor=actor, now=now,
                                     dry_run=dry_run, due_only=due_only)

    return apply_with_writeback
