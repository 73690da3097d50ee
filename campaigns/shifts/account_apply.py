"""One account's claimed items on the platform: each budget is read first and written only
when it differs (so taking over a crashed claim never writes twice), the writes go in one
batch where the connector has one, and an auth or throttling failure stops the rest of the
account (those items go back unattempted)."""

from __future__ import annotations

from collections.abc import Callable

from campaigns.models import AdAccount
from campaigns.shifts.recording import record
from campaigns.shifts.work import BudgetKey, Run, Steps, Work
from connectors.base import (
    BudgetOutcome,
    Connector,
    ConnectorError,
    apply_budgets,
    apply_each,
    as_connector_error,
)

ConnectorLookup = Callable[[AdAccount], Connector]
STOPS_ACCOUNT = frozenset({"auth", "throttled"})


def apply_account(steps: Steps, run: Run, account: AdAccount, todo: list[Work],
                  lookup: ConnectorLookup) -> None:
    """Read each budget, then write the ones that differ in one batch for the account."""
    leaders = _leaders(todo)
    connector, results, stopped = _read_budgets(account, leaders, lookup)
    writes = [] if stopped else [w for w in leaders
                                 if w.item_id not in results and w.current != w.new_budget]
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
        connector: Connector | None = lookup(account)
        broken: ConnectorError | None = None
    except Exception as exc:  # a source that cannot be built fails its items, not the run
        connector, broken = None, as_connector_error(exc)
    for work in leaders:
        try:
            if broken is not None:
                raise broken
            assert connector is not None
            work.current = connector.read_budget(work.target)
        except Exception as exc:
            err = as_connector_error(exc)
            results[work.item_id] = err
            if err.kind in STOPS_ACCOUNT:
                return connector, results, True
    return connector, results, False


def _write(connector: Connector, writes: list[Work], *, dry_run: bool
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
