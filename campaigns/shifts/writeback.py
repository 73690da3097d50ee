"""Applying a shift's approved items to the ad platforms, exactly once per item.

A run goes account by account: it takes the items it may (:func:`claims.take`), *claims*
them with a conditional update committed before the platform is called
(:func:`claims.claim`; a request that wins no item writes nothing), settles a second item on
a budget the shift already sets (:func:`claims.dedupe`), then reads and writes the account's
budgets together (:mod:`campaigns.shifts.account_apply`) and stores each outcome
(:mod:`campaigns.shifts.recording`). A failed item is tried again after an exponential
backoff, up to a limit (:mod:`campaigns.shifts.retry`).

The shift's own status (applied | partially_applied | failed) belongs to
:mod:`campaigns.shifts.applying`; :class:`ApplyReport` gives it the counts and each item's
outcome.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.columns import utcnow
from campaigns.models import AdAccount, ShiftItem
from campaigns.shifts import claims
from campaigns.shifts.account_apply import STOPS_ACCOUNT, ConnectorLookup, apply_account
from campaigns.shifts.claims import APPLICABLE, CLAIMABLE
from campaigns.shifts.report import ApplyReport, ItemOutcome
from campaigns.shifts.retry import RETRY, RetryPolicy
from campaigns.shifts.work import Run, Steps
from connectors.base import Connector

if TYPE_CHECKING:
    from campaigns.config import Settings

__all__ = [
    "APPLICABLE", "CLAIMABLE", "RETRY", "STOPS_ACCOUNT", "ApplyReport", "ConnectorLookup",
    "ItemOutcome", "RetryPolicy", "apply_items", "apply_items_in_session",
    "configured_connectors",
]


def apply_items(
    engine: Engine, shift_id: int, connector_for_account: ConnectorLookup, *,
    actor: str = "writeback", dry_run: bool = False, items: Sequence[ShiftItem] | None = None,
    now: dt.datetime | None = None, due_only: bool = False, policy: RetryPolicy = RETRY,
    claim: str | None = None,
) -> ApplyReport:
    """Apply the approved (and failed) items of shift ``shift_id``, each step in its own
    committed session.

    ``connector_for_account(account)`` returns the connector of an AdAccount
    (:func:`configured_connectors` builds them from the settings the caller loaded). ``items``
    limits the run to those items. ``due_only`` leaves failed items whose backoff has not
    passed (the nightly retry); a person asking to apply again retries them at once.

    With ``dry_run`` nothing is written anywhere: nothing is claimed, the platforms validate
    and the report says what would happen. ``claim`` names the claims this run makes: a
    later run with the same name (a worker's task delivered again after its worker died)
    takes over the items its earlier delivery claimed, and reads each budget before writing.
    """
    return _run(Steps.on_engine(engine), shift_id, connector_for_account, actor=actor,
                dry_run=dry_run, items=items, now=now, due_only=due_only, policy=policy,
                claim=claim)


def apply_items_in_session(
    session: Session, shift_id: int, connector_for_account: ConnectorLookup, *,
    actor: str = "writeback", dry_run: bool = False, items: Sequence[ShiftItem] | None = None,
    now: dt.datetime | None = None, due_only: bool = False, policy: RetryPolicy = RETRY,
) -> ApplyReport:
    """:func:`apply_items` on the caller's session: each step commits it, so the caller's
    pending changes (the shift's move to ``applying``) are committed with the first claim;
    when nothing is claimed nothing is committed."""
    return _run(Steps.on_session(session), shift_id, connector_for_account, actor=actor,
                dry_run=dry_run, items=items, now=now, due_only=due_only, policy=policy)


def _run(
    steps: Steps, shift_id: int, lookup: ConnectorLookup, *,
    actor: str, dry_run: bool, items: Sequence[ShiftItem] | None, now: dt.datetime | None,
    due_only: bool, policy: RetryPolicy, claim: str | None = None,
) -> ApplyReport:
    wanted = {i.id for i in items} if items is not None else None
    run = Run(shift_id, claim or uuid.uuid4().hex[:16], actor, now or utcnow(), policy,
              ApplyReport(shift_id, dry_run=dry_run), dry_run=dry_run, due_only=due_only,
              settled=claims.settled_targets(steps, shift_id, wanted))
    for account, rows in claims.candidates(steps, shift_id, wanted):
        todo = claims.take(run, account, rows)
        if not dry_run:
            todo = claims.claim(steps, run, todo)
            run.report.claimed += len(todo)
        todo = claims.dedupe(steps, run, todo)
        if todo:
            apply_account(steps, run, account, todo, lookup)
    return run.report


def configured_connectors(
    settings: Settings, factory: Callable[[Any, Settings], Connector] | None = None,
) -> ConnectorLookup:
    """A lookup building (once per source) the connector an account syncs from, from the
    settings the caller loaded (never re-read here); ``factory(source, settings)`` builds
    it (default: the registry's connector for the source's kind)."""
    from campaigns.ingest.connectors import connector_for

    build = factory or connector_for
    cache: dict[str, Connector] = {}

    def lookup(account: AdAccount) -> Connector:
        if account.source not in cache:
            cache[account.source] = build(settings.source(account.source), settings)
        return cache[account.source]

    return lookup
