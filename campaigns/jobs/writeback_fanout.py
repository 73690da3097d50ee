"""Write-back on Celery workers: one ``budgetpilot.apply_account`` task per account.

The shift's move to ``applying`` is committed first; then each account's items go to a
worker, which claims them in the database exactly as an in-process apply does, and the
reports come back merged into one, so the shift settles as it always has.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

from celery import group
from celery.exceptions import TimeLimitExceeded
from sqlmodel import Session, col, select

from campaigns.config import Settings
from campaigns.db import among
from campaigns.models import BudgetShift, Campaign, ShiftItem
from campaigns.shifts.writeback import (
    ApplyReport,
    ItemOutcome,
    apply_items_in_session,
    configured_connectors,
)


def workers_applier(settings: Settings) -> Any:
    """An ``ItemApplier`` (see :mod:`campaigns.shifts.lifecycle`) that applies on the workers."""
    from campaigns.jobs.workers import APPLY_TASK, account_time_limits, configure

    app = configure(settings)  # its tasks are sent through it, by name

    def apply_on_workers(
        session: Session, shift: BudgetShift, items: list[ShiftItem], /, *, actor: str,
        now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> ApplyReport:
        assert shift.id is not None
        if dry_run:  # nothing is written: read here, as before
            return apply_items_in_session(session, shift.id, configured_connectors(settings),
                                          items=items, actor=actor, now=now, dry_run=True)
        session.commit()  # the shift is `applying` before any worker claims its items
        by_account = _by_account(session, items)
        # Past the soft limit (prefork) the task fails its unwritten items by name; the hard
        # one, the grace later, ends a task that ignores it (its items failed here).
        limits = account_time_limits(settings)
        result = group(
            app.signature(APPLY_TASK,
                          (shift.id, item_ids, actor, now.isoformat(), due_only), **limits)
            for item_ids in by_account.values()
        ).apply_async()
        report = _merged(settings, session.get_bind(), shift.id, result,
                         list(by_account.values()), actor=actor, now=now,
                         deadline=time.monotonic() + settings.queue.wait_timeout)
        result.forget()
        session.expire_all()  # the workers changed the items: read them again
        return report

    return apply_on_workers


def _by_account(session: Session, items: list[ShiftItem]) -> dict[int, list[int]]:
    """The items' ids per account (one task each), in a stable order."""
    by_account: dict[int, list[int]] = {}
    for item_id, account_id in session.execute(
        select(col(ShiftItem.id), col(Campaign.account_id))
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .where(among(col(ShiftItem.id), [i.id for i in items if i.id is not None]))
        .order_by(col(Campaign.account_id), col(ShiftItem.id))
    ):
        by_account.setdefault(account_id, []).append(item_id)
    return by_account


def _merged(settings: Settings, engine: Any, shift_id: int, result: Any,
            groups: list[list[int]], *, actor: str, now: dt.datetime, deadline: float
            ) -> ApplyReport:
    """The tasks' reports as one; a task that did not answer names its items unattempted,
    and one its worker ended at the hard time limit has the items it held failed, named."""
    from campaigns.jobs.apply_limits import fail_unfinished, task_claim
    from campaigns.jobs.workers import hard_limit_reason

    report = ApplyReport(shift_id)
    for task, item_ids in zip(result.results, groups, strict=True):
        try:
            value = task.get(timeout=max(0.1, deadline - time.monotonic()))
        except TimeLimitExceeded:  # the task is over: its claims are released here
            part = fail_unfinished(engine, shift_id, item_ids, task_claim(task.id),
                                   f"apply of shift {shift_id}: {hard_limit_reason(settings)}",
                                   actor=actor, now=now)
            report.claimed += part.claimed
            for outcome in part.outcomes:
                report.add(outcome)
            continue
        except Exception as e:  # named per item; they stay claimable for a later attempt
            for item_id in item_ids:
                report.add(ItemOutcome(item_id, "", "not_attempted", Decimal(0),
                                       error=f"{type(e).__name__}: {e}"))
            continue
        report.claimed += value["claimed"]
        for o in value["outcomes"]:
            report.add(ItemOutcome(**{
                **o, "new_budget": Decimal(o["new_budget"]),
                "platform_budget": None if o["platform_budget"] is None
                else Decimal(o["platform_budget"]),
            }))
    return report
