"""The nightly run's applies, timed per account.

The run's applier is called once per account of a shift (items in a stable order), as the
workers' write-back splits a shift, and the reports are merged, so the shift settles as it
always has while each account's wall time and outcome land in the run's timings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from campaigns.db import among
from campaigns.jobs.nightly_report import StepTiming, timed
from campaigns.models import AdAccount, BudgetShift, Campaign, ShiftItem
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.report import ApplyReport


def timed_applier(inner: shifts.ItemApplier, timings: list[StepTiming]) -> shifts.ItemApplier:
    """``inner``, called per account; each call is an ``apply_account`` timing."""

    def apply_per_account(
        session: Session, shift: BudgetShift, items: list[ShiftItem], /, *, actor: str,
        now: dt.datetime, dry_run: bool = False, due_only: bool = False,
    ) -> Any:
        assert shift.id is not None
        merged = ApplyReport(shift.id, dry_run=dry_run)
        for account, part in _by_account(session, items).items():
            with timed(timings, "apply_account", account) as timing:
                report = inner(session, shift, part, actor=actor, now=now, dry_run=dry_run,
                               due_only=due_only)
                timing.detail = f"shift {shift.id}: {report.done} of {len(part)} items done"
                if report.failed:
                    timing.error = f"{report.failed} items failed"
            merged.claimed += report.claimed
            for outcome in report.outcomes:
                merged.add(outcome)
        return merged

    return apply_per_account


def _by_account(session: Session, items: list[ShiftItem]) -> dict[str, list[ShiftItem]]:
    by_id = {i.id: i for i in items}
    rows = session.execute(
        select(col(ShiftItem.id), col(AdAccount.network), col(AdAccount.external_id))
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(among(col(ShiftItem.id), by_id))
        .order_by(col(AdAccount.network), col(AdAccount.external_id), col(ShiftItem.id))
    ).all() if by_id else []
    out: dict[str, list[ShiftItem]] = {}
    for item_id, network, external_id in rows:
        out.setdefault(f"{network}:{external_id}", []).append(by_id[item_id])
    return out
