"""The nightly workflow's Celery tasks, registered by every ``budgetpilot worker``.

Only the registrations live here, so a worker that never runs a nightly does not load the
optimiser and its libraries; each task's body is in :mod:`campaigns.jobs.nightly_steps`
(the workflow's shape is drawn there), imported when the task first runs. All of them are
acknowledged late and given back if their worker dies.

They are shared tasks, registered on every app :func:`campaigns.jobs.workers.configure`
makes: a submitter sends :data:`PREPARE_TASK` by name through its config's app, and the
tasks a task sends (``nightly_optimise.s(...)``, in a worker only) resolve on the worker's
app, which Celery makes the current one in every thread of a worker.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from celery import shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from campaigns.ingest.sync import StreamOutcome, _error_text, account_failure
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.workers import (
    _engine,
    _worker_settings,
    sync_one,
    task_deadline,
    time_limit_reason,
)
from campaigns.jobs.workers import outcome_from_json as stream_from_json
from campaigns.jobs.workers import outcome_to_json as stream_to_json
from connectors.base import AccountRecord

PREPARE_TASK = "budgetpilot.nightly_prepare"  # what a submitter sends, by name
TASK: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name=PREPARE_TASK, **TASK)
def nightly_prepare(self: Any, ctx: dict[str, Any]) -> None:
    """Expire, apply what managers approved, list the accounts, send the sync chord."""
    from campaigns.jobs import nightly_steps

    nightly_steps.prepare(ctx)


@shared_task(name="budgetpilot.nightly_sync_account", **TASK)
def nightly_sync_account(
    self: Any, key: str, source_name: str, record: dict[str, Any], now: str,
) -> list[dict[str, Any]]:
    """One account's sync; its failure is its outcome, never the chord's. Its body loads
    nothing heavy: a time limit arriving mid-import would leave a module half loaded."""
    return sync_account(self, key, source_name, record, now)


def sync_account(
    self: Any, key: str, source_name: str, record: dict[str, Any], now: str,
) -> list[dict[str, Any]]:
    """One account's sync for a nightly run: the same task body as ``budgetpilot sync``'s,
    but a failure is the account's failed outcome, never the chord's."""
    start = time.monotonic()
    try:
        try:
            with task_deadline():  # the thread pool's stand-in for the soft time limit
                outcomes = [stream_from_json(o)
                            for o in sync_one(self, source_name, record, now)]
        except Retry:
            raise  # retried by Celery (the database went away): still this task
        except Exception as e:
            outcomes = [failed_sync(source_name, record, _timed_out(e))]
    except SoftTimeLimitExceeded as e:  # the limit arrived while a failure was recorded
        account = AccountRecord(**record)
        outcomes = [StreamOutcome(f"{account.network}:{account.external_id}", "entities",
                                  "failed", error=str(_timed_out(e)))]
    took = round(time.monotonic() - start, 3)
    # The sync may have caught the limit itself, as a failed stream: named the same way.
    limit = str(_timed_out(SoftTimeLimitExceeded()))
    outcomes = [dataclasses.replace(
        o, seconds=took, error=limit if o.error and "SoftTimeLimitExceeded" in o.error
        else o.error) for o in outcomes]
    progress.account_done(_engine(), key, failed=any(o.status != "succeeded" for o in outcomes))
    return [stream_to_json(o) for o in outcomes]


def _timed_out(e: Exception) -> Exception:
    if isinstance(e, SoftTimeLimitExceeded):
        return TimeoutError(time_limit_reason(_worker_settings()))
    return e


def failed_sync(source_name: str, record: dict[str, Any], error: BaseException
                ) -> StreamOutcome:
    account = AccountRecord(**record)
    try:  # recorded as a failed sync of the account, as the in-process sync does
        return account_failure(_engine(), _worker_settings().source(source_name),
                               account.network, account.external_id, error)
    except SQLAlchemyError:
        return StreamOutcome(f"{account.network}:{account.external_id}", "entities", "failed",
                             error=_error_text(error)[:4000])


@shared_task(name="budgetpilot.nightly_optimise", **TASK)
def nightly_optimise(self: Any, results: list[Any], ctx: dict[str, Any]) -> None:
    """The sync chord's callback: record the sync, hard stop, propose, auto-approve, and
    send the apply chord."""
    from campaigns.jobs import nightly_steps

    nightly_steps.optimise(results, ctx)


@shared_task(name="budgetpilot.nightly_apply_account", **TASK)
def nightly_apply_account(
    self: Any, shift_id: int, item_ids: list[int], actor: str, now: str,
) -> dict[str, Any]:
    """One account's items of the run's shift; a failure is the items' error."""
    from campaigns.jobs import nightly_steps

    return nightly_steps.apply_account(self, shift_id, item_ids, actor, now)


@shared_task(name="budgetpilot.nightly_finish", **TASK)
def nightly_finish(self: Any, results: list[Any], ctx: dict[str, Any]) -> None:
    """Settle the shift, evaluate alerts, close the run (once)."""
    from campaigns.jobs import nightly_steps

    nightly_steps.finish(results, ctx)


@shared_task(name="budgetpilot.nightly_chord_failed")
def nightly_chord_failed(request: Any, exc: BaseException, traceback: Any) -> None:
    """The errback of a nightly chord's body. A header task that ended by force (killed at the
    hard time limit, its worker lost for good) fails the chord, and Celery calls this, in the
    process that saw the chord's last result, instead of the body; ``request`` is the body's.
    It only sends the recovery, a task of its own (acknowledged late like the others)."""
    ctx = request.args[-1]
    stage = "apply" if getattr(request, "task", "") == nightly_finish.name else "sync"
    nightly_chord_recover.apply_async((stage, ctx))


@shared_task(name="budgetpilot.nightly_chord_recover", **TASK)
def nightly_chord_recover(self: Any, stage: str, ctx: dict[str, Any]) -> None:
    """Every header task's result read back (a task ended by force as its account's failure,
    named), then the body the chord did not run: optimise, or finish."""
    from campaigns.jobs import nightly_steps

    nightly_steps.recover(stage, ctx)
