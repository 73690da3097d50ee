"""Applying a shift's approved items to the ad platforms, exactly once per item.

Each item is first *claimed*: one conditional update (``status = 'applying'`` where it is
still approved or failed and due, or where an earlier claim went stale) that only one
concurrent request can win, committed *before* the platform is called. A request that wins no
item writes nothing. The claimed items of one account go to the platform together
(:func:`connectors.base.apply_budgets`); each one's budget is read first and the write skipped
when the platform already holds the new value, so recovering a claim left by a crashed
process never applies anything twice. An auth or throttling failure stops the remaining items
of that account (they go back to where they were, for the next attempt); other failures mark
the item, which is tried again after an exponential backoff, up to a limit.

The shift's own status (applied | partially_applied | failed) belongs to
:mod:`campaigns.shifts.lifecycle`; :class:`ApplyReport` gives it the counts and each item's outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns import audit
from campaigns.models import AdAccount, AdSet, BudgetShift, Campaign, ShiftItem, as_utc, utcnow
from connectors.base import (
    BudgetOutcome,
    BudgetTarget,
    Connector,
    ConnectorError,
    apply_budgets,
    apply_each,
    as_connector_error,
)
from connectors.redact import redact

if TYPE_CHECKING:
    from campaigns.config import Settings

log = logging.getLogger(__name__)

ConnectorLookup = Callable[[AdAccount], Connector]
# Statuses an item may be claimed from (besides a stale "applying" claim).
CLAIMABLE = ("approved", "failed")
APPLICABLE = (*CLAIMABLE, "applying")
STOPS_ACCOUNT = frozenset({"auth", "throttled"})
CLAIM_CHUNK = 500  # item ids per claiming statement


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed item is tried again, and when a claim counts as abandoned."""

    max_attempts: int = 5
    backoff: dt.timedelta = dt.timedelta(minutes=10)  # then 20, 40, 80 minutes
    # A claim older than this was left by a process that died mid-way; the next attempt
    # reads the platform before writing anything.
    claim_timeout: dt.timedelta = dt.timedelta(minutes=15)

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime:
        return now + self.backoff * 2 ** max(attempts - 1, 0)

    def due(self, now: dt.datetime) -> Any:
        """The SQL condition of an item automation may try (again) at ``now``: attempts
        left and its backoff passed."""
        item: Any = ShiftItem
        return and_(item.attempts < self.max_attempts,
                    or_(item.next_attempt_at.is_(None), item.next_attempt_at <= now))


RETRY = RetryPolicy()


@dataclass(frozen=True)
class ItemOutcome:
    item_id: int
    target: str  # level:external id
    outcome: str  # applied | already | skipped | failed | not_attempted | busy | would_apply
    new_budget: Decimal
    platform_budget: Decimal | None = None  # what the platform held before
    error: str | None = None


@dataclass
class ApplyReport:
    shift_id: int
    dry_run: bool = False
    applied: int = 0  # written to the platform now (dry run: would be written)
    already: int = 0  # the platform already held the new budget: nothing written
    failed: int = 0
    not_attempted: int = 0  # left for a later attempt (account stopped, or not due yet)
    skipped: int = 0  # another item of the shift already set the same budget
    busy: int = 0  # claimed by another request that is applying them right now
    claimed: int = 0  # items this request won
    errors: dict[int, str] = field(default_factory=dict)  # item id -> error
    outcomes: list[ItemOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.applied + self.already + self.skipped

    @property
    def status(self) -> str:
        """What the shift becomes: applied | partially_applied | failed."""
        if self.failed == 0 and self.not_attempted == 0 and self.busy == 0:
            return "applied"
        return "partially_applied" if self.done else "failed"

    def add(self, outcome: ItemOutcome) -> None:
        self.outcomes.append(outcome)
        name = "applied" if outcome.outcome == "would_apply" else outcome.outcome
        setattr(self, name, getattr(self, name) + 1)
        if outcome.error is not None:
            self.errors[outcome.item_id] = outcome.error


@dataclass
class _Work:
    """One claimed item on its way to the platform."""

    item_id: int
    key: tuple[int, str, str]  # (account id, level, target id): one budget on the platform
    target: BudgetTarget
    new_budget: Decimal
    prior: str  # the status to go back to when released unattempted
    current: Decimal | None = None


def apply_items(
    db: Engine | Session | Callable[[], Session],
    shift: int | BudgetShift,
    connector_for_account: ConnectorLookup,
    *,
    actor: str = "writeback",
    dry_run: bool = False,
    items: Sequence[ShiftItem] | None = None,
    now: dt.datetime | None = None,
    due_only: bool = False,
    policy: RetryPolicy = RETRY,
) -> ApplyReport:
    """Apply the approved (and failed) items of shift ``shift`` (an id or the row).

    ``db`` is an Engine or a session factory (each step gets its own committed session), or a
    Session (each step commits it: the caller's pending changes, such as the shift's move to
    ``applying``, are committed with the first claim; when nothing is claimed nothing is
    committed). ``connector_for_account(account)`` returns the connector of an AdAccount
    (:func:`configured_connectors` builds them from the settings the caller loaded).
    ``items`` limits the run to those items. ``due_only`` leaves failed items whose backoff
    has not passed (the nightly retry); a person asking to apply again retries them at once.

    With ``dry_run`` nothing is written anywhere: nothing is claimed, the platforms validate
    and the report says what would happen.
    """
    lookup = connector_for_account  # built by the caller from its settings: never re-read here
    now = now or utcnow()
    shift_id = shift if isinstance(shift, int) else shift.id
    assert shift_id is not None
    report = ApplyReport(shift_id, dry_run=dry_run)
    wanted = {i.id for i in items} if items is not None else None
    claim = uuid.uuid4().hex[:16]
    settled = _settled_targets(db, shift_id)
    for account, rows in _candidates(db, shift_id, wanted):
        todo = _select(rows, account, now, due_only, policy, report)
        if not dry_run:
            todo = _claim(db, todo, claim, now, due_only, policy, report)
        report.claimed += 0 if dry_run else len(todo)
        todo = _dedupe(db, todo, settled, actor=actor, dry_run=dry_run, report=report)
        if todo:
            _apply_account(db, account, todo, lookup, claim=claim, actor=actor, now=now,
                           dry_run=dry_run, policy=policy, report=report, settled=settled)
    return report


def _candidates(
    db: Any, shift_id: int, wanted: set[int | None] | None
) -> list[tuple[AdAccount, list[tuple[ShiftItem, Campaign]]]]:
    """The shift's unfinished items grouped by account, in a stable order."""
    with _reading(db) as session:
        rows = session.execute(
            select(ShiftItem, Campaign, AdAccount)
            .join(Campaign, Campaign.id == ShiftItem.campaign_id)  # type: ignore[arg-type]
            .join(AdAccount, AdAccount.id == Campaign.account_id)  # type: ignore[arg-type]
            .where(ShiftItem.shift_id == shift_id,  # type: ignore[arg-type]
                   ShiftItem.status.in_(APPLICABLE))  # type: ignore[attr-defined]
            .order_by(AdAccount.id, ShiftItem.id)  # type: ignore[arg-type]
            .execution_options(populate_existing=True)
        ).all()
    groups: dict[int, tuple[AdAccount, list[tuple[ShiftItem, Campaign]]]] = {}
    for item, campaign, account in rows:
        if wanted is None or item.id in wanted:
            assert account.id is not None
            groups.setdefault(account.id, (account, []))[1].append((item, campaign))
    return list(groups.values())


def _select(
    rows: list[tuple[ShiftItem, Campaign]], account: AdAccount, now: dt.datetime,
    due_only: bool, policy: RetryPolicy, report: ApplyReport,
) -> list[_Work]:
    """The items this request may take; the others are reported (busy, waiting, given up)."""
    out = []
    for item, _ in rows:
        assert item.id is not None and account.id is not None
        target = BudgetTarget(account.external_id, item.level,  # type: ignore[arg-type]
                              item.target_external_id, item.currency)
        label = f"{item.level}:{item.target_external_id}"
        new = Decimal(item.new_budget)
        claimed_at = as_utc(item.claimed_at)
        if item.status == "applying" and claimed_at and claimed_at > now - policy.claim_timeout:
            report.add(ItemOutcome(item.id, label, "busy", new,
                                   error=f"being applied by another request since {claimed_at}"))
            continue
        # The limit stops automation; a person applying again (once the cause is fixed)
        # still may.
        if item.status == "failed" and due_only and item.attempts >= policy.max_attempts:
            report.add(ItemOutcome(item.id, label, "failed", new, error=item.error))
            continue
        due = as_utc(item.next_attempt_at)
        if item.status == "failed" and due_only and due is not None and due > now:
            report.add(ItemOutcome(item.id, label, "not_attempted", new,
                                   error=f"next attempt after {due.isoformat()}"))
            continue
        prior = item.status if item.status in CLAIMABLE else (
            "failed" if item.error else "approved")
        out.append(_Work(item.id, (account.id, item.level, item.target_external_id), target,
                         new, prior))
    return out


def _claim(
    db: Any, todo: list[_Work], claim: str, now: dt.datetime, due_only: bool,
    policy: RetryPolicy, report: ApplyReport,
) -> list[_Work]:
    """Win the items with conditional updates (``UPDATE ... SET status = 'applying' WHERE id
    IN (...) AND <still claimable> RETURNING id``), committed before any platform call.

    The database decides: of concurrent requests exactly one gets an item's id back. Nothing
    is committed when nothing was won (a caller's pending changes stay
    pending, so a request that loses every item can still roll back and write nothing).
    """
    item: Any = ShiftItem
    claimable = item.status.in_(CLAIMABLE)
    if due_only:
        claimable = and_(claimable, policy.due(now))
    stale = and_(item.status == "applying",
                 or_(item.claimed_at.is_(None), item.claimed_at <= now - policy.claim_timeout))
    won: list[_Work] = []
    by_id = {w.item_id: w for w in todo}
    with _session(db) as (session, owned):
        ids = list(by_id)
        for start in range(0, len(ids), CLAIM_CHUNK):
            chunk = ids[start:start + CLAIM_CHUNK]
            # Each row is checked and changed atomically by the database: RETURNING names
            # exactly the rows this statement won.
            rows = session.execute(
                update(ShiftItem)
                .where(item.id.in_(chunk), or_(claimable, stale))
                .values(status="applying", claimed_by=claim, claimed_at=now,
                        attempts=item.attempts + 1)
                .returning(item.id)
                .execution_options(synchronize_session=False)
            ).scalars().all()
            taken = set(rows)
            won += [by_id[i] for i in chunk if i in taken]
            for i in chunk:
                if i not in taken:
                    work = by_id[i]
                    report.add(ItemOutcome(i, _label(work), "busy", work.new_budget,
                                           error="taken by another request"))
        if won:
            session.commit()
        elif owned:
            session.rollback()
    return won


def _settled_targets(db: Any, shift_id: int) -> dict[tuple[int, str, str], tuple[int, Decimal]]:
    """Budgets already set by applied items of the shift: (account, level, target) -> item."""
    with _reading(db) as session:
        rows = session.execute(
            select(Campaign.account_id, ShiftItem.level, ShiftItem.target_external_id,
                   ShiftItem.id, ShiftItem.new_budget)
            .join(Campaign, Campaign.id == ShiftItem.campaign_id)  # type: ignore[arg-type]
            .where(ShiftItem.shift_id == shift_id, ShiftItem.status == "applied")  # type: ignore[arg-type]
        ).all()
    return {(r[0], r[1], r[2]): (r[3], Decimal(r[4])) for r in rows}


def _dedupe(
    db: Any, todo: list[_Work], settled: dict[tuple[int, str, str], tuple[int, Decimal]], *,
    actor: str, dry_run: bool, report: ApplyReport,
) -> list[_Work]:
    """One budget, one decision: a second item of the shift on the same budget (a shared
    budget listed per campaign) must not undo the first."""
    out: list[_Work] = []
    first: dict[tuple[int, str, str], _Work] = {}
    for work in todo:
        if work.key in settled or work.key in first:
            other, value = settled.get(work.key) or (first[work.key].item_id,
                                                    first[work.key].new_budget)
            if value == work.new_budget:
                if work.key in settled:
                    _finish(db, work, "skipped", f"budget already set by item {other}",
                            actor=actor, dry_run=dry_run, report=report)
                else:
                    out.append(work)  # settled after the first one's outcome is known
                continue
            _finish(db, work, "failed",
                    f"[invalid] {work.target.level} budget {work.target.external_id} is set "
                    f"to {value} by item {other} of this shift; refusing {work.new_budget}",
                    actor=actor, dry_run=dry_run, report=report)
            continue
        first[work.key] = work
        out.append(work)
    return out


def _apply_account(
    db: Any, account: AdAccount, todo: list[_Work], lookup: ConnectorLookup, *, claim: str,
    actor: str, now: dt.datetime, dry_run: bool, policy: RetryPolicy, report: ApplyReport,
    settled: dict[tuple[int, str, str], tuple[int, Decimal]],
) -> None:
    """Read each budget, then write the ones that differ in one batch for the account."""
    seen: set[tuple[int, str, str]] = set()
    leaders = []
    for work in todo:  # the first item on each budget; the others follow its outcome
        if work.key not in seen:
            seen.add(work.key)
            leaders.append(work)
    results: dict[int, BudgetOutcome] = {}
    connector: Connector | None = None
    broken: ConnectorError | None = None
    try:
        connector = lookup(account)
    except Exception as exc:  # a source that cannot be built fails its items, not the run
        broken = as_connector_error(exc)
    stopped = False
    writes: list[_Work] = []
    for work in leaders:
        if stopped:
            break  # left without a result: given back unattempted
        try:
            if broken is not None:
                raise broken
            assert connector is not None
            work.current = connector.read_budget(work.target)
        except Exception as exc:
            err = as_connector_error(exc)
            results[work.item_id] = err
            stopped = err.kind in STOPS_ACCOUNT
            continue
        if work.current != work.new_budget:
            writes.append(work)
    if stopped:
        writes = []  # the account is stopped: what was read goes back unattempted
    if writes and connector is not None:
        results.update(_write(connector, writes, dry_run=dry_run))
    _record(db, todo, leaders, results, claim=claim, actor=actor, now=now, dry_run=dry_run,
            policy=policy, report=report, settled=settled)


def _write(connector: Connector, writes: list[_Work], *, dry_run: bool
           ) -> dict[int, BudgetOutcome]:
    """The platform writes of one account: one batch where the connector has one; otherwise
    one change at a time, stopping at an auth or throttling failure (the changes after it get
    no outcome: they go back unattempted)."""
    changes = [(w.target, w.new_budget) for w in writes]
    if getattr(connector, "apply_budgets", None) is None:
        outcomes = apply_each(connector, changes, dry_run=dry_run, stop_on=STOPS_ACCOUNT)
        return {w.item_id: o for w, o in zip(writes, outcomes, strict=False)}
    try:
        outcomes = apply_budgets(connector, changes, dry_run=dry_run)
        if len(outcomes) != len(changes):
            raise ConnectorError(f"{len(outcomes)} outcomes for {len(changes)} changes")
    except Exception as exc:
        # Whatever reached the platform is read back before the next attempt writes.
        outcomes = [as_connector_error(exc)] * len(writes)
    return {w.item_id: o for w, o in zip(writes, outcomes, strict=True)}


def _record(
    db: Any, todo: list[_Work], leaders: list[_Work], results: dict[int, BudgetOutcome], *,
    claim: str, actor: str, now: dt.datetime, dry_run: bool, policy: RetryPolicy,
    report: ApplyReport, settled: dict[tuple[int, str, str], tuple[int, Decimal]],
) -> None:
    """Store every outcome of one account in one unit of work (with its audit events)."""
    done: dict[tuple[int, str, str], tuple[int, Decimal, bool]] = {}
    leading = {w.item_id for w in leaders}
    with _unit(db, skip=dry_run) as session:
        if not dry_run:
            _preload(session, todo)
        for work in todo:
            label = _label(work)
            if work.item_id not in leading:  # a second item on a budget handled in this batch
                lead = done.get(work.key)
                if lead is None:
                    _release(session, work, claim, dry_run)
                    report.add(ItemOutcome(work.item_id, label, "not_attempted",
                                           work.new_budget))
                    continue
                _set_status(session, work, claim, "skipped",
                            f"budget already set by item {lead[0]}", dry_run)
                report.add(ItemOutcome(work.item_id, label, "skipped", work.new_budget))
                continue
            result = results.get(work.item_id)  # None: nothing was written
            if result is None and work.current != work.new_budget:
                # Not read (or read but not written): the account was stopped before it.
                _release(session, work, claim, dry_run)
                report.add(ItemOutcome(work.item_id, label, "not_attempted", work.new_budget,
                                       work.current))
                continue
            if isinstance(result, ConnectorError):
                _fail(session, work, claim, result, actor=actor, now=now, dry_run=dry_run,
                      policy=policy, report=report)
                continue
            applied = work.current if result is None else result.daily_budget
            changed = False if result is None else result.changed
            assert applied is not None
            if dry_run:
                would = result is not None and applied != work.current
                report.add(ItemOutcome(work.item_id, label,
                                       "would_apply" if would else "already",
                                       work.new_budget, work.current))
                done[work.key] = (work.item_id, work.new_budget, False)
                continue
            if not _applied(session, work, claim, applied, changed, actor=actor, now=now):
                continue
            done[work.key] = (work.item_id, work.new_budget, changed)
            settled[work.key] = (work.item_id, work.new_budget)
            report.add(ItemOutcome(work.item_id, label, "applied" if changed else "already",
                                   work.new_budget, work.current))


def _preload(session: Session, todo: list[_Work]) -> None:
    """Read the batch's items (as they are now) and campaigns in a few statements, so that
    recording thousands of outcomes does not cost a query each."""
    ids = [w.item_id for w in todo]
    for start in range(0, len(ids), CLAIM_CHUNK):
        chunk = ids[start:start + CLAIM_CHUNK]
        items = session.scalars(
            select(ShiftItem).where(ShiftItem.id.in_(chunk))  # type: ignore[union-attr]
            .execution_options(populate_existing=True)
        ).all()
        campaign_ids = {i.campaign_id for i in items}
        session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))).all()  # type: ignore[union-attr]


def _mine(session: Session, work: _Work, claim: str) -> ShiftItem | None:
    """The item, if this request still holds its claim (a stale claim may have been taken
    over by another request; then that one records the outcome). Read by :func:`_preload`."""
    item = session.get(ShiftItem, work.item_id)
    if item is None or item.claimed_by != claim:
        log.warning("shift item %s: claim %s was taken over; not recording", work.item_id, claim)
        return None
    return item


def _applied(session: Session, work: _Work, claim: str, applied: Decimal, changed: bool, *,
             actor: str, now: dt.datetime) -> bool:
    item = _mine(session, work, claim)
    if item is None:
        return False
    item.status, item.applied_budget, item.applied_at, item.error = "applied", applied, now, None
    item.claimed_by = item.claimed_at = item.next_attempt_at = None
    session.add(item)
    _store_budget(session, item, applied, now)
    audit.record(
        session, actor=actor, action="shift_item.applied", entity_type="shift_item",
        entity_id=work.item_id,
        before={"status": "applying", "platform_budget": work.current},
        after={"status": "applied", "applied_budget": applied, "changed": changed,
               "target": _label(work)},
    )
    return True


def _fail(session: Session, work: _Work, claim: str, err: ConnectorError, *, actor: str,
          now: dt.datetime, dry_run: bool, policy: RetryPolicy, report: ApplyReport) -> None:
    text = redact(f"[{err.kind}] {err}")[:1800]  # stored, audited, listed: never a secret
    log.warning("shift item %s: %s", work.item_id, text)
    if dry_run:
        report.add(ItemOutcome(work.item_id, _label(work), "failed", work.new_budget,
                               work.current, text))
        return
    item = _mine(session, work, claim)
    if item is None:
        return
    if item.attempts >= policy.max_attempts:
        text = (f"{text} (gave up after {item.attempts} attempts; nothing more is tried "
                "automatically: a manager must act — fix the cause, then apply the shift "
                "again, or propose a new one)")
        item.next_attempt_at = None
    else:
        item.next_attempt_at = policy.next_attempt(item.attempts, now)
    item.status, item.error, item.claimed_by, item.claimed_at = "failed", text, None, None
    session.add(item)
    audit.record(
        session, actor=actor, action="shift_item.failed", entity_type="shift_item",
        entity_id=work.item_id, before={"status": "applying"},
        after={"status": "failed", "error": text, "kind": err.kind,
               "attempts": item.attempts, "next_attempt_at": item.next_attempt_at},
    )
    report.add(ItemOutcome(work.item_id, _label(work), "failed", work.new_budget,
                           work.current, text))


def _finish(db: Any, work: _Work, status: str, error: str, *, actor: str, dry_run: bool,
            report: ApplyReport) -> None:
    """Settle an item without calling the platform (a duplicate or conflicting budget)."""
    report.add(ItemOutcome(work.item_id, _label(work), status, work.new_budget,
                           error=None if status == "skipped" else error))
    if dry_run:
        return
    with _unit(db) as session:
        item = session.get(ShiftItem, work.item_id, populate_existing=True)
        assert item is not None
        item.status, item.error, item.claimed_by, item.claimed_at = status, error, None, None
        session.add(item)
        if status == "failed":
            audit.record(session, actor=actor, action="shift_item.failed",
                         entity_type="shift_item", entity_id=work.item_id,
                         before={"status": "applying"},
                         after={"status": "failed", "error": error, "kind": "invalid"})


def _set_status(session: Session, work: _Work, claim: str, status: str, error: str | None,
                dry_run: bool) -> None:
    if dry_run:
        return
    item = _mine(session, work, claim)
    if item is not None:
        item.status, item.error, item.claimed_by, item.claimed_at = status, error, None, None
        session.add(item)


def _release(session: Session, work: _Work, claim: str, dry_run: bool) -> None:
    """Give an item back unattempted (its account was stopped): as if never claimed."""
    if dry_run:
        return
    item = _mine(session, work, claim)
    if item is not None:
        item.status, item.claimed_by, item.claimed_at = work.prior, None, None
        item.attempts = max(item.attempts - 1, 0)
        session.add(item)


def _label(work: _Work) -> str:
    return f"{work.target.level}:{work.target.external_id}"


def _store_budget(session: Session, item: ShiftItem, budget: Decimal, now: dt.datetime) -> None:
    """Mirror the platform's new budget on our rows (every campaign of a shared budget)."""
    if item.level == "adset":
        session.execute(
            update(AdSet)
            .where(
                AdSet.campaign_id == item.campaign_id,  # type: ignore[arg-type]
                AdSet.external_id == item.target_external_id,
            )  # type: ignore[arg-type]
            .values(daily_budget=budget, updated_at=now)
        )
        return
    campaign = session.get(Campaign, item.campaign_id)
    assert campaign is not None
    if item.level == "shared":
        session.execute(
            update(Campaign)
            .where(
                Campaign.account_id == campaign.account_id,  # type: ignore[arg-type]
                Campaign.budget_external_id == item.target_external_id,
            )  # type: ignore[arg-type]
            .values(daily_budget=budget, updated_at=now)
        )
    campaign.daily_budget = budget
    campaign.updated_at = now
    session.add(campaign)


@contextmanager
def _session(db: Any) -> Iterator[tuple[Session, bool]]:
    """The caller's session, or a fresh one (closed afterwards); the caller commits."""
    if isinstance(db, Session):
        yield db, False
        return
    session = Session(db, expire_on_commit=False) if isinstance(db, Engine) else db()
    try:
        yield session, True
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def _reading(db: Any) -> Iterator[Session]:
    """A read that commits nothing (a caller's pending changes stay pending)."""
    with _session(db) as (session, _):
        yield session


@contextmanager
def _unit(db: Any, *, skip: bool = False) -> Iterator[Session]:
    """One committed step, on the caller's session or a fresh one (closed afterwards)."""
    with _session(db) as (session, _):
        try:
            yield session
            if not skip:
                session.commit()
        except BaseException:
            session.rollback()
            raise


def configured_connectors(settings: Settings) -> ConnectorLookup:
    """A lookup building (once per source) the connector an account syncs from."""
    from campaigns.ingest.connectors import connector_for

    cache: dict[str, Connector] = {}

    def lookup(account: AdAccount) -> Connector:
        if account.source not in cache:
            cache[account.source] = connector_for(settings.source(account.source), settings)
        return cache[account.source]

    return lookup
