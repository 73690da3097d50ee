"""The nightly workflow's Celery tasks, registered by every ``budgetpilot worker``.

Only the registrations live here, so a worker that never runs a nightly does not load the
optimiser and its libraries; each task's body is in :mod:`campaigns.jobs.nightly_steps`
(the workflow's shape is drawn there), imported when the task first runs. All of them are
acknowledged late and given back if their worker dies.
"""

from __future__ import annotations

from typing import Any

from campaigns.jobs.workers import celery_app

TASK: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@celery_app.task(name="budgetpilot.nightly_prepare", **TASK)
def nightly_prepare(self: Any, ctx: dict[str, Any]) -> None:
    """Expire, apply what managers approved, list the accounts, send the sync chord."""
    from campaigns.jobs import nightly_steps

    nightly_steps.prepare(ctx)


@celery_app.task(name="budgetpilot.nightly_sync_account", **TASK)
def nightly_sync_account(
    self: Any, key: str, source_name: str, record: dict[str, Any], now: str,
) -> list[dict[str, Any]]:
    """One account's sync; its failure is its outcome, never the chord's."""
    from campaigns.jobs import nightly_steps

    return nightly_steps.sync_account(self, key, source_name, record, now)


@celery_app.task(name="budgetpilot.nightly_optimise", **TASK)
def nightly_optimise(self: Any, results: list[Any], ctx: dict[str, Any]) -> None:
    """The sync chord's callback: record the sync, hard stop, propose, auto-approve, and
    send the apply chord."""
    from campaigns.jobs import nightly_steps

    nightly_steps.optimise(results, ctx)


@celery_app.task(name="budgetpilot.nightly_apply_account", **TASK)
def nightly_apply_account(
    self: Any, shift_id: int, item_ids: list[int], actor: str, now: str,
) -> dict[str, Any]:
    """One account's items of the run's shift; a failure is the items' error."""
    from campaigns.jobs import nightly_steps

    return nightly_steps.apply_account(self, shift_id, item_ids, actor, now)


@celery_app.task(name="budgetpilot.nightly_finish", **TASK)
def nightly_finish(self: Any, results: list[Any], ctx: dict[str, Any]) -> None:
    """Settle the shift, evaluate alerts, close the run (once)."""
    from campaigns.jobs import nightly_steps

    nightly_steps.finish(results, ctx)
