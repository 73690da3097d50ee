"""Storing what the platform did with each claimed item: applied (and the budget mirrored on
our rows), failed (with its next attempt), skipped, or given back unattempted. Each change
is a move of :mod:`campaigns.shifts.states`, made only while this run holds the claim."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from campaigns.db import among
from campaigns.models import AdSet, Campaign, ShiftItem
from campaigns.shifts.report import ItemOutcome
from campaigns.shifts.retry import RetryPolicy
from campaigns.shifts.states import ItemStatus, Note, transition
from campaigns.shifts.work import BudgetKey, Run, Steps, Work
from connectors.base import BudgetOutcome, ConnectorError
from connectors.redact import redact

log = logging.getLogger(__name__)

UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claimed_at": None}
WAS_APPLYING = {"status": ItemStatus.APPLYING.value}


def record(steps: Steps, run: Run, todo: list[Work], leaders: list[Work],
           results: dict[int, BudgetOutcome]) -> None:
    """Store every outcome of one account in one unit of work (with its audit events).
    ``leaders`` are the first item on each budget; the others follow their outcome."""
    done: dict[BudgetKey, int] = {}  # budget -> the item of this batch that set it
    leading = {w.item_id for w in leaders}
    with steps.unit(skip=run.dry_run) as session:
        # Held for the unit: the session's identity map keeps loaded rows only while
        # something refers to them, and each item read again cost two more queries.
        loaded = _preload(session, todo) if not run.dry_run else []
        for work in todo:
            if work.item_id in leading:
                _record_leader(session, run, work, results.get(work.item_id), done)
            else:
                _record_follower(session, run, work, done.get(work.key))
        del loaded


def _record_leader(session: Session, run: Run, work: Work, result: BudgetOutcome | None,
                   done: dict[BudgetKey, int]) -> None:
    """``result`` None: nothing was written (the platform held the budget, or the account
    was stopped before this item)."""
    if result is None and work.current != work.new_budget:
        release(session, run, work)
        run.report.add(ItemOutcome(work.item_id, work.label, "not_attempted",
                                   work.new_budget, work.current))
        return
    if isinstance(result, ConnectorError):
        _fail(session, run, work, result)
        return
    applied = work.current if result is None else result.daily_budget
    changed = result is not None and result.changed
    assert applied is not None
    if run.dry_run:
        would = result is not None and applied != work.current
        run.report.add(ItemOutcome(work.item_id, work.label,
                                   "would_apply" if would else "already", work.new_budget,
                                   work.current))
        done[work.key] = work.item_id
        return
    if _applied(session, run, work, applied, changed):
        done[work.key] = work.item_id
        run.settled[work.key] = (work.item_id, work.new_budget)
        run.report.add(ItemOutcome(work.item_id, work.label,
                                   "applied" if changed else "already", work.new_budget,
                                   work.current))


def _record_follower(session: Session, run: Run, work: Work, lead: int | None) -> None:
    """A second item on a budget handled in this batch follows the first one."""
    if lead is None:
        release(session, run, work)
        run.report.add(ItemOutcome(work.item_id, work.label, "not_attempted", work.new_budget))
        return
    if not run.dry_run and (item := _mine(session, work, run.claim)) is not None:
        transition(session, item, ItemStatus.SKIPPED,
                   values={"error": f"budget already set by item {lead}", **UNCLAIMED})
    run.report.add(ItemOutcome(work.item_id, work.label, "skipped", work.new_budget))


def _preload(session: Session, todo: list[Work]) -> list[object]:
    """Read the batch's items (as they are now) and campaigns in a few statements, so that
    recording thousands of outcomes does not cost a query each; returns them, for the
    caller to hold while it records."""
    items = session.scalars(
        select(ShiftItem).where(among(col(ShiftItem.id), (w.item_id for w in todo)))
        .execution_options(populate_existing=True)
    ).all()
    campaign_ids = {i.campaign_id for i in items}
    campaigns = session.scalars(
        select(Campaign).where(among(col(Campaign.id), campaign_ids))).all()
    return [*items, *campaigns]


def _mine(session: Session, work: Work, claim: str) -> ShiftItem | None:
    """The item, if this run still holds its claim (a stale claim may have been taken over
    by another request; then that one records the outcome). Read by :func:`_preload`."""
    item = session.get(ShiftItem, work.item_id)
    if item is None or item.claimed_by != claim:
        log.warning("shift item %s: claim %s was taken over; not recording", work.item_id, claim)
        return None
    return item


def _applied(session: Session, run: Run, work: Work, applied: Decimal, changed: bool) -> bool:
    item = _mine(session, work, run.claim)
    if item is None:
        return False
    transition(session, item, ItemStatus.APPLIED, values={
        "applied_budget": applied, "applied_at": run.now, "error": None,
        "next_attempt_at": None, **UNCLAIMED,
    }, note=Note(run.actor, "shift_item.applied",
                 before={**WAS_APPLYING, "platform_budget": work.current},
                 after={"status": ItemStatus.APPLIED.value, "applied_budget": applied,
                        "changed": changed, "target": work.label}))
    _store_budget(session, item, applied, run)
    return True


def _fail(session: Session, run: Run, work: Work, err: ConnectorError) -> None:
    text = redact(f"[{err.kind}] {err}")[:1800]  # stored, audited, listed: never a secret
    log.warning("shift item %s: %s", work.item_id, text)
    item = None if run.dry_run else _mine(session, work, run.claim)
    if item is not None:
        if item.attempts >= run.policy.max_attempts:
            text = (f"{text} (gave up after {item.attempts} attempts; nothing more is tried "
                    "automatically: a manager must act — fix the cause, then apply the shift "
                    "again, or propose a new one)")
        fail_claimed(session, item, text, kind=err.kind, actor=run.actor,
                     policy=run.policy, now=run.now)
    elif not run.dry_run:
        return  # another request holds the claim and records the outcome
    run.report.add(ItemOutcome(work.item_id, work.label, "failed", work.new_budget,
                               work.current, text))


def fail_claimed(session: Session, item: ShiftItem, text: str, *, kind: str, actor: str,
                 policy: RetryPolicy, now: dt.datetime) -> None:
    """A claimed item failed with ``text``: its next attempt set (none past the policy's
    attempts), its claim cleared, the failure audited."""
    next_at = (policy.next_attempt(item.attempts, now)
               if item.attempts < policy.max_attempts else None)
    transition(session, item, ItemStatus.FAILED, values={
        "error": text, "next_attempt_at": next_at, **UNCLAIMED,
    }, note=Note(actor, "shift_item.failed", before=WAS_APPLYING, after={
        "status": ItemStatus.FAILED.value, "error": text, "kind": kind,
        "attempts": item.attempts, "next_attempt_at": next_at}))


def finish(steps: Steps, run: Run, work: Work, status: ItemStatus, error: str) -> None:
    """Settle an item without calling the platform (a duplicate or conflicting budget)."""
    run.report.add(ItemOutcome(work.item_id, work.label, status.value, work.new_budget,
                               error=None if status == ItemStatus.SKIPPED else error))
    if run.dry_run:
        return
    with steps.unit() as session:
        item = session.get(ShiftItem, work.item_id, populate_existing=True)
        assert item is not None
        note = None if status != ItemStatus.FAILED else Note(
            run.actor, "shift_item.failed", before=WAS_APPLYING,
            after={"status": status.value, "error": error, "kind": "invalid"})
        transition(session, item, status, values={"error": error, **UNCLAIMED}, note=note)


def release(session: Session, run: Run, work: Work) -> None:
    """Give an item back unattempted (its account was stopped): as if never claimed."""
    if run.dry_run:
        return
    item = _mine(session, work, run.claim)
    if item is not None:
        transition(session, item, ItemStatus(work.prior),
                   values={"attempts": max(item.attempts - 1, 0), **UNCLAIMED})


def _store_budget(session: Session, item: ShiftItem, budget: Decimal, run: Run) -> None:
    store_budget(session, item, budget, run.now)


def store_budget(session: Session, item: ShiftItem, budget: Decimal, now: Any) -> None:
    """Mirror the platform's new budget on our rows (every campaign of a shared budget)."""
    if item.level == "adset":
        session.execute(
            update(AdSet)
            .where(
                col(AdSet.campaign_id) == item.campaign_id,
                col(AdSet.external_id) == item.target_external_id,
            )
            .values(daily_budget=budget, updated_at=now)
        )
        return
    campaign = session.get(Campaign, item.campaign_id)
    assert campaign is not None
    if item.level == "shared":
        session.execute(
            update(Campaign)
            .where(
                col(Campaign.account_id) == campaign.account_id,
                col(Campaign.budget_external_id) == item.target_external_id,
            )
            .values(daily_budget=budget, updated_at=now)
        )
    campaign.daily_budget = budget
    campaign.updated_at = now
    session.add(campaign)
