"""The submitting side of a sync on workers: one task per account, a group, waiting for it.

The source's accounts are listed here (one call), each account becomes a
``budgetpilot.sync_account`` task, and the outcomes come back in the order of the accounts,
so ``budgetpilot sync`` prints and exits exactly as it does in-process. An account whose task
failed (gave up, or no result within ``[queue] wait_timeout``) is a failed outcome naming it;
the other accounts are synced all the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator

from celery import group
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from campaigns.config import Settings, SourceSettings
from campaigns.errors import BudgetPilotError, ConfigError
from campaigns.ingest.sync import AccountsRunner, StreamOutcome, _error_text, account_failure
from campaigns.jobs.workers import (
    SYNC_TASK,
    account_time_limits,
    configure,
    hard_limit_reason,
    outcome_from_json,
)
from connectors.base import AccountRecord
from connectors.redact import redact

log = logging.getLogger(__name__)


class WorkersTimedOut(BudgetPilotError):
    """No result for a task within ``[queue] wait_timeout``."""


def worker_runner(settings: Settings, engine: Engine) -> AccountsRunner:
    """An ``AccountsRunner`` for :func:`campaigns.ingest.sync.sync_source` that uses the workers."""
    app = configure(settings)
    try:
        answers = app.control.ping(timeout=1.0)
    except BrokerError as e:
        raise ConfigError(
            f"[queue] broker_url: cannot reach the broker: {redact(str(e))}"
        ) from None
    if not answers:
        log.warning("no worker answered on the broker yet; tasks wait in queue %r until one "
                    "starts (`budgetpilot worker`)", settings.queue.queue)

    def run(
        source: SourceSettings, accounts: list[AccountRecord], now: dt.datetime
    ) -> Iterator[list[StreamOutcome]]:
        if not accounts:
            return
        limits = account_time_limits(settings)  # as the nightly's sync tasks carry them
        signatures = [
            app.signature(SYNC_TASK,
                          (source.name, dataclasses.asdict(a), now.isoformat()), **limits)
            for a in accounts
        ]
        try:
            result = group(signatures).apply_async()
        except BrokerError as e:
            raise ConfigError(
                f"[queue] broker_url: cannot reach the broker: {redact(str(e))}"
            ) from None
        deadline = time.monotonic() + settings.queue.wait_timeout
        try:
            for record, task in zip(accounts, result.results, strict=True):
                yield _outcomes(engine, settings, source, record, task, deadline)
        finally:
            result.forget()

    return run


def _outcomes(
    engine: Engine, settings: Settings, source: SourceSettings, record: AccountRecord,
    task: AsyncResult, deadline: float,
) -> list[StreamOutcome]:
    error: BaseException
    try:
        value = task.get(timeout=max(0.1, deadline - time.monotonic()), propagate=True)
    except CeleryTimeout:
        error = WorkersTimedOut("no worker finished this account within [queue] wait_timeout")
        task.revoke()  # not to be run later, after this sync has been reported
    except Exception as e:  # the task failed: named, the other accounts still count
        # Its worker ended it at the hard time limit (the exception comes back by name).
        error = (TimeoutError(hard_limit_reason(settings))
                 if type(e).__name__ == "TimeLimitExceeded" else e)
    else:
        return [outcome_from_json(o) for o in value]
    try:  # recorded as the in-process sync records a failed account, when the database can
        return [account_failure(engine, source, record.network, record.external_id, error)]
    except SQLAlchemyError:
        label = f"{record.network}:{record.external_id}"
        return [StreamOutcome(label, "entities", "failed", error=_error_text(error)[:4000])]
