"""Which items a write-back run takes, and winning them: each item is *claimed* with one
conditional update (to ``applying``) that only one concurrent request can win, committed
before any platform is called. A second item on a budget the shift already sets is settled
here without calling the platform."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import col

from campaigns.columns import as_utc
from campaigns.db import among
from campaigns.models import AdAccount, Campaign, ShiftItem
from campaigns.shifts.recording import finish
from campaigns.shifts.report import ItemOutcome
from campaigns.shifts.states import ITEM_ALLOWED, ItemStatus, conditional_move, sources
from campaigns.shifts.work import CHUNK, BudgetKey, Run, Settled, Steps, Work
from connectors.base import BudgetTarget

# Statuses an item may be claimed from (besides a stale "applying" claim).
CLAIMABLE = tuple(s for s in sources(ITEM_ALLOWED, ItemStatus.APPLYING)
                  if s != ItemStatus.APPLYING)
APPLICABLE = (*CLAIMABLE, ItemStatus.APPLYING)
Rows = list[tuple[ShiftItem, Campaign]]


def candidates(steps: Steps, shift_id: int, wanted: set[int | None] | None
               ) -> list[tuple[AdAccount, Rows]]:
    """The shift's unfinished items grouped by account, in a stable order (``wanted``: only
    those items, chosen in the query: a worker's task for one account of a 100,000-item
    shift read every unfinished item of it, each task of the night)."""
    statement = (
        select(ShiftItem, Campaign, AdAccount)
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(col(ShiftItem.shift_id) == shift_id,
               col(ShiftItem.status).in_([s.value for s in APPLICABLE]))
    )
    if wanted is not None:
        statement = statement.where(among(col(ShiftItem.id), wanted))
    with steps.reading() as session:
        rows = session.execute(
            statement.order_by(col(AdAccount.id), col(ShiftItem.id))
            .execution_options(populate_existing=True)
        ).all()
    groups: dict[int, tuple[AdAccount, Rows]] = {}
    for item, campaign, account in rows:
        if wanted is None or item.id in wanted:
            assert account.id is not None
            groups.setdefault(account.id, (account, []))[1].append((item, campaign))
    return list(groups.values())


def settled_targets(steps: Steps, shift_id: int, wanted: set[int | None] | None = None
                    ) -> Settled:
    """Budgets already set by applied items of the shift: (account, level, target) -> item
    (``wanted``: on the accounts of those items only, the only budgets they can share)."""
    statement = (
        select(col(Campaign.account_id), col(ShiftItem.level),
               col(ShiftItem.target_external_id), col(ShiftItem.id), col(ShiftItem.new_budget))
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .where(col(ShiftItem.shift_id) == shift_id,
               col(ShiftItem.status) == ItemStatus.APPLIED.value)
    )
    if wanted is not None:
        accounts = (select(col(Campaign.account_id))
                    .join(ShiftItem, col(ShiftItem.campaign_id) == col(Campaign.id))
                    .where(among(col(ShiftItem.id), wanted)))
        statement = statement.where(col(Campaign.account_id).in_(accounts))
    with steps.reading() as session:
        rows = session.execute(statement).all()
    return {(r[0], r[1], r[2]): (r[3], Decimal(r[4])) for r in rows}


def take(run: Run, account: AdAccount, rows: Rows) -> list[Work]:
    """The items this run may take; the others are reported (busy, waiting, given up)."""
    out = []
    for item, _ in rows:
        assert item.id is not None and account.id is not None
        target = BudgetTarget(account.external_id, item.level,  # type: ignore[arg-type]
                              item.target_external_id, item.currency)
        work = Work(item.id, (account.id, item.level, item.target_external_id), target,
                    Decimal(item.new_budget), _prior(item), old_budget=Decimal(item.old_budget))
        waiting = _why_waiting(run, item)
        if waiting is None:
            out.append(work)
        else:
            outcome, error = waiting
            run.report.add(ItemOutcome(item.id, work.label, outcome, work.new_budget,
                                       error=error))
    return out


def _why_waiting(run: Run, item: ShiftItem) -> tuple[str, str | None] | None:
    """(outcome, error) of an item this run leaves alone, or None to take it."""
    claimed_at = as_utc(item.claimed_at)
    if (item.status == ItemStatus.APPLYING and claimed_at and item.claimed_by != run.claim
            and claimed_at > run.now - run.policy.claim_timeout):
        return "busy", f"being applied by another request since {claimed_at}"
    if item.status != ItemStatus.FAILED or not run.due_only:
        return None
    # The limit stops automation; a person applying again (once the cause is fixed) still may.
    if item.attempts >= run.policy.max_attempts:
        return "failed", item.error
    due = as_utc(item.next_attempt_at)
    if due is not None and due > run.now:
        return "not_attempted", f"next attempt after {due.isoformat()}"
    return None


def _prior(item: ShiftItem) -> str:
    """Where an item goes back to if it is released unattempted."""
    if item.status in CLAIMABLE:
        return item.status
    return ItemStatus.FAILED.value if item.error else ItemStatus.APPROVED.value


def claim(steps: Steps, run: Run, todo: list[Work]) -> list[Work]:
    """Win the items with conditional updates to ``applying``, committed before any platform
    call. The database decides: of concurrent requests exactly one gets an item's id back.
    Nothing is committed when nothing was won (a caller's pending changes stay pending, so
    a request that loses every item can still roll back and write nothing)."""
    item: Any = ShiftItem
    claimable = item.status.in_([s.value for s in CLAIMABLE])
    if run.due_only:
        claimable = and_(claimable, run.policy.due(run.now))
    # Stale: its claimer gave up on it long ago; or claimed under this run's own name, by an
    # earlier delivery of the same task whose worker died (its budgets are read first).
    stale = and_(item.status == ItemStatus.APPLYING.value,
                 or_(item.claimed_at.is_(None),
                     item.claimed_at <= run.now - run.policy.claim_timeout,
                     item.claimed_by == run.claim))
    values = {"claimed_by": run.claim, "claimed_at": run.now, "attempts": item.attempts + 1}
    won: list[Work] = []
    by_id = {w.item_id: w for w in todo}
    ids = list(by_id)
    with steps.open() as (session, owned):
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            taken = set(conditional_move(session, ShiftItem, chunk, ItemStatus.APPLYING,
                                         where=or_(claimable, stale), values=values))
            won += [by_id[i] for i in chunk if i in taken]
            for lost in (by_id[i] for i in chunk if i not in taken):
                run.report.add(ItemOutcome(lost.item_id, lost.label, "busy", lost.new_budget,
                                           error="taken by another request"))
        if won:
            session.commit()
        elif owned:
            session.rollback()
    return won


def dedupe(steps: Steps, run: Run, todo: list[Work]) -> list[Work]:
    """One budget, one decision: a second item of the shift on the same budget (a shared
    budget listed per campaign) must not undo the first."""
    out: list[Work] = []
    first: dict[BudgetKey, Work] = {}
    for work in todo:
        if work.key not in run.settled and work.key not in first:
            first[work.key] = work
            out.append(work)
            continue
        other, value = run.settled.get(work.key) or (first[work.key].item_id,
                                                     first[work.key].new_budget)
        if value != work.new_budget:
            finish(steps, run, work, ItemStatus.FAILED,
                   f"[invalid] {work.target.level} budget {work.target.external_id} is set "
                   f"to {value} by item {other} of this shift; refusing {work.new_budget}")
        elif work.key in run.settled:
            finish(steps, run, work, ItemStatus.SKIPPED, f"budget already set by item {other}")
        else:
            out.append(work)  # settled after the first one's outcome is known
    return out
