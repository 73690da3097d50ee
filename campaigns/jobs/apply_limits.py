"""A write-back task that ran out of time: its account's unwritten items failed by name.

Celery's soft time limit (prefork pool) arrives as an exception wherever the task is: in a
platform call, between two, or while the outcomes are stored. The items the task still holds
under its claim are then failed with the limit as their error and the claim cleared, so the
shift settles (partially) and a later apply, the nightly's retry or a manager's, takes them
over at once instead of finding them busy until the claim timeout. A write that reached the
platform just before the limit is not written twice: every apply reads the budget first.
The same is done for a task its worker ended at the hard limit (the submitter knows its
claim: the task's id), once that task is known to be over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns.db import among
from campaigns.models import ShiftItem
from campaigns.shifts.recording import fail_claimed
from campaigns.shifts.report import ApplyReport, ItemOutcome
from campaigns.shifts.retry import RETRY, RetryPolicy
from campaigns.shifts.states import ItemStatus

log = logging.getLogger(__name__)
# What an item this run did not get to is reported as, by its status now.
_OUTCOME = {ItemStatus.APPLIED: "applied", ItemStatus.SKIPPED: "skipped",
            ItemStatus.FAILED: "failed"}


def task_claim(task_id: str) -> str:
    """The claim an apply task makes on its items (a delivery again takes them over)."""
    return f"task:{task_id}"[:64]


def fail_unfinished(
    engine: Engine, shift_id: int, item_ids: list[int], claim: str, reason: str, *,
    actor: str, now: dt.datetime, policy: RetryPolicy = RETRY,
) -> ApplyReport:
    """The report of an apply task ended by its time limit: each item still claimed under
    ``claim`` failed with ``reason`` (its next attempt set, the claim cleared); the others as
    they stand (recorded before the limit, or never claimed: not attempted)."""
    report = ApplyReport(shift_id)
    text = f"[deadline] {reason}"
    with Session(engine, expire_on_commit=False) as session:
        items = session.scalars(select(ShiftItem).where(among(col(ShiftItem.id), item_ids))
                                .order_by(col(ShiftItem.id))).all()
        for item in items:
            assert item.id is not None
            label = f"{item.level}:{item.target_external_id}"
            if item.status == ItemStatus.APPLYING and item.claimed_by == claim:
                report.claimed += 1
                fail_claimed(session, item, text, kind="deadline", actor=actor,
                             policy=policy, now=now)
                report.add(ItemOutcome(item.id, label, "failed", item.new_budget, error=text))
                continue
            outcome = _OUTCOME.get(ItemStatus(item.status), "not_attempted")
            report.add(ItemOutcome(item.id, label, outcome, item.new_budget,
                                   error=item.error if outcome == "failed" else None))
        session.commit()
    if report.failed:
        log.warning("shift %d: %d items failed at the time limit (%s)", shift_id,
                    report.failed, reason)
    return report


def name_caught_limit(engine: Engine, report: ApplyReport, reason: str) -> ApplyReport:
    """The soft limit caught inside the write-back (a platform call's failure is an item's
    outcome, so the limit arriving in one fails the items it was writing): those items'
    errors name the limit, in the report and on the items, as a limit seen outside does."""
    caught = {o.item_id for o in report.outcomes
              if o.outcome == "failed" and "SoftTimeLimitExceeded" in (o.error or "")}
    if not caught:
        return report
    text = f"[deadline] {reason}"
    with Session(engine) as session:
        for item in session.scalars(select(ShiftItem).where(among(col(ShiftItem.id), caught))):
            if item.status == ItemStatus.FAILED:
                item.error = text
                session.add(item)
        session.commit()
    named = ApplyReport(report.shift_id, dry_run=report.dry_run)
    named.claimed = report.claimed
    for o in report.outcomes:
        named.add(dataclasses.replace(o, error=text) if o.item_id in caught else o)
    return named
