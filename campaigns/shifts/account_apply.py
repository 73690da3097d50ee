"""One account's claimed items on the platform: the account's budgets are read first, in one
listing where the connector has one, and an item is written only when its budget differs
(so taking over a crashed claim never writes twice) and still holds what its proposal was
built on (a budget changed outside budgetpilot since is not overwritten: the item fails,
named). The writes go in one batch where the connector has one, without reading each budget
again, and an auth or throttling failure stops the rest of the account (those items go back
unattempted)."""

from __future__ import annotations

from collections.abc import Callable

from campaigns.models import AdAccount
from campaigns.shifts.recording import record
from campaigns.shifts.work import BudgetKey, Run, Steps, Work
from connectors.base import (
    STOPS_ACCOUNT,
    BudgetOutcome,
    Connector,
    ConnectorError,
    apply_budgets,
    apply_each,
    as_connector_error,
    read_budgets,
    stops,
)

ConnectorLookup = Callable[[AdAccount], Connector]


def apply_account(steps: Steps, run: Run, account: AdAccount, todo: list[Work],
                  lookup: ConnectorLookup) -> None:
    """Read the account's budgets, then write the ones that differ in one batch."""
    leaders = _leaders(todo)
    connector, results, stopped = _read_budgets(account, leaders, lookup)
    writes = [] if stopped else [w for w in leaders
                                 if w.item_id not in results and w.current != w.new_budget]
    for work in writes:
        if (changed := _changed_outside(work)) is not None:
            results[work.item_id] = changed
    writes = [w for w in writes if w.item_id not in results]
    if writes and connector is not None:
        results.update(_write(connector, writes, dry_run=run.dry_run))
    record(steps, run, todo, leaders, results)


def _leaders(todo: list[Work]) -> list[Work]:
    """The first item on each budget; the others follow its outcome."""
    seen: set[BudgetKey] = set()
    leaders = []
    for work in todo:
        if work.key not in seen:
            seen.add(work.key)
            leaders.append(work)
    return leaders


def _read_budgets(account: AdAccount, leaders: list[Work], lookup: ConnectorLookup
                  ) -> tuple[Connector | None, dict[int, BudgetOutcome], bool]:
    """(connector, the failed reads by item id, whether the account is stopped). Each read
    budget is kept on its work; after a stopping failure nothing more is read (those items
    are given back unattempted)."""
    results: dict[int, BudgetOutcome] = {}
    try:
        connector = lookup(account)
    except Exception as exc:  # a source that cannot be built fails its items, not the run
        err = as_connector_error(exc)
        stopped = err.kind in STOPS_ACCOUNT  # then the first item carries it, as a read would
        failing = leaders[:1] if stopped else leaders
        results.update(dict.fromkeys((w.item_id for w in failing), err))
        return None, results, stopped
    found = read_budgets(connector, [w.target for w in leaders], stop_on=STOPS_ACCOUNT)
    for work, outcome in zip(leaders, found, strict=False):
        if isinstance(outcome, ConnectorError):
            results[work.item_id] = outcome
            if outcome.kind in STOPS_ACCOUNT:
                return connector, results, True
        else:
            work.current = outcome
    return connector, results, False


def _changed_outside(work: Work) -> ConnectorError | None:
    """Why an item must not be written: its budget on the platform is neither the one its
    proposal was built on nor its new one, so someone changed it outside budgetpilot since
    (a person in Ads Manager, another tool) and overwriting it would undo their decision."""
    if work.old_budget is None or work.current is None or work.current == work.old_budget:
        return None
    return ConnectorError(
        f"{work.target.level} budget {work.target.external_id} is {work.current} on the "
        f"platform, not the {work.old_budget} the proposal was built on: it was changed "
        "outside budgetpilot (or by another shift) since; not applied (sync, then propose "
        "again)", kind="invalid")


def _write(connector: Connector, writes: list[Work], *, dry_run: bool
           ) -> dict[int, BudgetOutcome]:
    """The platform writes of one account, each with the budget just read (a connector that
    lists budgets does not read it again): one batch where the connector has one; otherwise
    one change at a time, stopping at an auth or throttling failure (the changes after it get
    no outcome: they go back unattempted)."""
    changes = [(w.target, w.new_budget) for w in writes]
    read = [w.current for w in writes if w.current is not None]
    known = read if len(read) == len(writes) else None
    if getattr(connector, "apply_budgets", None) is None:
        outcomes = apply_each(connector, changes, dry_run=dry_run, stop_on=STOPS_ACCOUNT,
                              current=known)
        return {w.item_id: o for w, o in zip(writes, outcomes, strict=False)}
    try:
        outcomes = apply_budgets(connector, changes, dry_run=dry_run,
                                 current=known)
        # A batch may end after a failure that stops the account (Meta writes one at a
        # time): the changes after it go back unattempted.
        if len(outcomes) > len(changes) or (len(outcomes) < len(changes) and not (
                outcomes and stops(outcomes[-1]))):
            raise ConnectorError(f"{len(outcomes)} outcomes for {len(changes)} changes")
    except Exception as exc:
        # Whatever reached the platform is read back before the next attempt writes.
        outcomes = [as_connector_error(exc)] * len(writes)
    return {w.item_id: o for w, o in zip(writes, outcomes, strict=False)}

