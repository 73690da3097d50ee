"""Applying a shift's approved items to the ad platforms, exactly once per item.

Each item is its own small unit of work: it is marked ``applying`` and committed *before* the
platform is called, then ``applied`` or ``failed`` and committed after. The platform's current
budget is read first and the write skipped when it already holds the new value, so a retry
after a crash (an item left ``applying``) or after a half-failed shift never applies anything
twice. An auth or throttling failure stops the remaining items of that account (they stay
``approved`` for the next attempt); other failures mark the item and move on.

The shift's own status (applied | partially_applied | failed) belongs to
:mod:`campaigns.shifts`; :class:`ApplyReport` gives it the counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns import audit
from campaigns.models import AdAccount, AdSet, BudgetShift, Campaign, ShiftItem, utcnow
from connectors.base import BudgetTarget, Connector, ConnectorError

log = logging.getLogger(__name__)

ConnectorLookup = Callable[[AdAccount], Connector]
# Statuses an item may be (re)applied from: a crash leaves "applying", a failure "failed".
APPLICABLE = ("approved", "applying", "failed")
STOPS_ACCOUNT = frozenset({"auth", "throttled"})


@dataclass
class ApplyReport:
    shift_id: int
    dry_run: bool = False
    applied: int = 0  # written to the platform now
    already: int = 0  # the platform already held the new budget: nothing written
    failed: int = 0
    not_attempted: int = 0  # left for a later attempt (their account was stopped)
    skipped: int = 0  # another item of the shift already set the same budget
    errors: dict[int, str] = field(default_factory=dict)  # item id -> error

    @property
    def done(self) -> int:
        return self.applied + self.already + self.skipped

    @property
    def status(self) -> str:
        """What the shift becomes: applied | partially_applied | failed."""
        if self.failed == 0 and self.not_attempted == 0:
            return "applied"
        return "partially_applied" if self.done else "failed"


def apply_items(
    db: Engine | Session | Callable[[], Session],
    shift: int | BudgetShift,
    connector_for_account: ConnectorLookup | Sequence[ShiftItem] | None = None,
    *,
    actor: str = "writeback",
    dry_run: bool = False,
    items: Sequence[ShiftItem] | None = None,
) -> ApplyReport:
    """Apply the approved items of shift ``shift`` (an id or the row) one by one.

    ``db`` is an Engine or a session factory (each step gets its own committed session), or a
    Session (each step commits it: the caller's pending changes, such as the shift's move to
    ``applying``, are committed with the first item). ``connector_for_account(account)``
    returns the connector of an AdAccount; by default connectors are built from the configured
    source each account syncs from. ``items`` limits the run to those items; passing them as
    the third argument, as ``campaigns.shifts.ItemApplier`` does, means the same.

    With ``dry_run`` nothing is written anywhere: the platforms validate and the report says
    what would happen.
    """
    if connector_for_account is not None and not callable(connector_for_account):
        items, connector_for_account = connector_for_account, None
    lookup = connector_for_account or configured_connectors()
    shift_id = shift if isinstance(shift, int) else shift.id
    assert shift_id is not None
    report = ApplyReport(shift_id, dry_run=dry_run)
    wanted = {i.id for i in items} if items is not None else None
    with _unit(db) as session:
        ids = session.scalars(
            select(ShiftItem.id)
            .where(ShiftItem.shift_id == shift_id, ShiftItem.status.in_(APPLICABLE))  # type: ignore[attr-defined]
            .order_by(ShiftItem.id)  # type: ignore[arg-type]
        ).all()
    stopped: dict[int, str] = {}
    claimed = _claimed_targets(db, shift_id)
    # On a caller's session, its items' campaigns and accounts load in two queries instead
    # of one per item (held here: the session only keeps weak references).
    preloaded = _preload(db, shift_id) if isinstance(db, Session) else []
    for item_id in ids:
        if wanted is not None and item_id not in wanted:
            continue
        _apply_one(
            db,
            item_id,
            lookup,
            actor=actor,
            dry_run=dry_run,
            report=report,
            stopped=stopped,
            claimed=claimed,
        )
    del preloaded
    return report


def _preload(session: Session, shift_id: int) -> list[Any]:
    campaigns = list(session.scalars(select(Campaign).where(
        Campaign.id.in_(select(ShiftItem.campaign_id).where(ShiftItem.shift_id == shift_id))  # type: ignore[union-attr,arg-type]
    )))
    accounts = list(session.scalars(select(AdAccount).where(
        AdAccount.id.in_({c.account_id for c in campaigns})  # type: ignore[union-attr]
    )))
    return campaigns + accounts


def _claimed_targets(db: Any, shift_id: int) -> dict[tuple[int, str, str], tuple[int, Decimal]]:
    """Budgets already set by applied items of the shift: (account, level, target) -> item."""
    with _unit(db) as session:
        rows = session.execute(
            select(
                Campaign.account_id,
                ShiftItem.level,
                ShiftItem.target_external_id,
                ShiftItem.id,
                ShiftItem.new_budget,
            )
            .join(Campaign, Campaign.id == ShiftItem.campaign_id)  # type: ignore[arg-type]
            .where(ShiftItem.shift_id == shift_id, ShiftItem.status == "applied")  # type: ignore[arg-type]
        ).all()
    return {(r[0], r[1], r[2]): (r[3], Decimal(r[4])) for r in rows}


def _apply_one(
    db: Any,
    item_id: int,
    lookup: ConnectorLookup,
    *,
    actor: str,
    dry_run: bool,
    report: ApplyReport,
    stopped: dict[int, str],
    claimed: dict[tuple[int, str, str], tuple[int, Decimal]],
) -> None:
    with _unit(db) as session:
        item = session.get(ShiftItem, item_id)
        assert item is not None
        campaign = session.get(Campaign, item.campaign_id)
        assert campaign is not None
        account = session.get(AdAccount, campaign.account_id)
        assert account is not None
        if account.id in stopped:
            report.not_attempted += 1
            return
        target = BudgetTarget(
            account.external_id,
            item.level,
            item.target_external_id,  # type: ignore[arg-type]
            item.currency,
        )
        new_budget = Decimal(item.new_budget)
        # One budget, one decision: a second item of the shift on the same budget (a shared
        # budget listed per campaign) must not undo the first.
        key = (account.id, item.level, item.target_external_id)
        if key in claimed:
            other, value = claimed[key]
            if value == new_budget:
                item.status, item.error = "skipped", f"budget already set by item {other}"
                report.skipped += 1
                session.add(item)
                return
            item.status = "failed"
            item.error = (
                f"[invalid] {item.level} budget {item.target_external_id} was set to "
                f"{value} by item {other} of this shift; refusing {new_budget}"
            )
            report.failed += 1
            report.errors[item_id] = item.error
            session.add(item)
            return
        if not dry_run:
            item.status = "applying"
            item.attempts += 1
            session.add(item)
    # Committed: from here a crash leaves the item "applying", and the next attempt reads the
    # platform before writing anything.
    try:
        connector = lookup(account)
        current = connector.read_budget(target)
        if current == new_budget:
            applied, changed = current, False
        else:
            result = connector.apply_budget(target, new_budget, dry_run=dry_run)
            applied, changed = result.daily_budget, result.changed
    except Exception as exc:  # recorded on the item; the shift goes on
        err = (
            exc
            if isinstance(exc, ConnectorError)
            else ConnectorError(f"{type(exc).__name__}: {exc}", kind="fatal")
        )
        _record_failure(db, item_id, err, actor=actor, dry_run=dry_run, report=report)
        if err.kind in STOPS_ACCOUNT:
            assert account.id is not None
            stopped[account.id] = err.kind
        return
    claimed[key] = (item_id, new_budget)
    if dry_run:
        report.applied += 1 if applied != current else 0
        report.already += 1 if applied == current else 0
        return
    with _unit(db) as session:
        item = session.get(ShiftItem, item_id)
        assert item is not None
        before = {"status": "applying", "platform_budget": current}
        item.status = "applied"
        item.applied_budget = applied
        item.applied_at = utcnow()
        item.error = None
        session.add(item)
        _store_budget(session, item, applied)
        audit.record(
            session,
            actor=actor,
            action="shift_item.applied",
            entity_type="shift_item",
            entity_id=item_id,
            before=before,
            after={
                "status": "applied",
                "applied_budget": applied,
                "changed": changed,
                "target": f"{target.level}:{target.external_id}",
            },
        )
    if changed:
        report.applied += 1
    else:
        report.already += 1


def _record_failure(
    db: Any,
    item_id: int,
    err: ConnectorError,
    *,
    actor: str,
    dry_run: bool,
    report: ApplyReport,
) -> None:
    text = f"[{err.kind}] {err}"[:2000]
    report.failed += 1
    report.errors[item_id] = text
    log.warning("shift item %s: %s", item_id, text)
    if dry_run:
        return
    with _unit(db) as session:
        item = session.get(ShiftItem, item_id)
        assert item is not None
        item.status = "failed"
        item.error = text
        session.add(item)
        audit.record(
            session,
            actor=actor,
            action="shift_item.failed",
            entity_type="shift_item",
            entity_id=item_id,
            before={"status": "applying"},
            after={"status": "failed", "error": text, "kind": err.kind},
        )


def _store_budget(session: Session, item: ShiftItem, budget: Decimal) -> None:
    """Mirror the platform's new budget on our rows (every campaign of a shared budget)."""
    now = utcnow()
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
def _unit(db: Any) -> Iterator[Session]:
    """One committed step, on the caller's session or a fresh one (closed afterwards)."""
    if isinstance(db, Session):
        session, owned = db, False
    else:
        session = Session(db, expire_on_commit=False) if isinstance(db, Engine) else db()
        owned = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if owned:
            session.close()


def configured_connectors(settings: Any = None) -> ConnectorLookup:
    """A lookup building (once per source) the connector an account syncs from."""
    from campaigns.config import load_settings
    from connectors.registry import build_connector

    cache: dict[str, Connector] = {}

    def lookup(account: AdAccount) -> Connector:
        nonlocal settings
        if account.source not in cache:
            settings = settings or load_settings()
            cache[account.source] = build_connector(settings.source(account.source), settings)
        return cache[account.source]

    return lookup
