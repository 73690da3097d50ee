"""Sync on Celery workers: the Celery app, its configuration from ``[queue]``, the tasks.

A task is one account of one source: the same :func:`campaigns.ingest.sync.sync_account` the
in-process sync runs, so the database ends up the same either way. Tasks are acknowledged
after they finish and given back when their worker dies, so a worker killed mid-task has the
account synced again elsewhere; that is safe because every write is an upsert (accounts,
campaigns, ad sets, metrics by campaign-day) and the metrics of an account are one unit of
work. A task that keeps failing, or keeps losing its worker, stops after ``max_attempts``
with an error that names the account.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from campaigns.config import Settings
from campaigns.errors import BudgetPilotError, DatabaseBusyError
from campaigns.ingest.sync import StreamOutcome, _error_text
from connectors import deadline
from connectors.base import AccountRecord, Connector

log = logging.getLogger(__name__)
ATTEMPTS_KEY = "budgetpilot:attempts:"
ATTEMPTS_TTL = 7 * 24 * 3600
# The tasks' names: a submitter sends them by name through its config's app.
SYNC_TASK = "budgetpilot.sync_account"
APPLY_TASK = "budgetpilot.apply_account"

# One app per queue config: Celery builds an app's broker connections, producers and result
# backend once, from the config it first saw, so a process that submits under a second config
# (another broker or Redis database: the bench, the tests, RabbitMQ) gets an app of its own
# instead of publishing to the first broker. The tasks are shared: registered on every app.
# Kept for the most recent few configs only (a long-lived process that submits under many,
# the test suite, would otherwise hold every broker's connections for its life): the least
# recently used app is closed, its connections with it, and made again if used again.
APPS_KEPT = 8
_apps: OrderedDict[str, Celery] = OrderedDict()
_app: Celery | None = None  # the one configure() last gave this process (a worker's own)
# For Celery's own command-line tools only (`celery -A campaigns.jobs.workers:celery_app
# --broker URL inspect ping`, events, Flower): the broker comes from their --broker. Tasks
# are never sent through it.
celery_app = Celery("budgetpilot", set_as_current=False)
_settings: Settings | None = None
# Per worker process (prefork children fork after configure): engine, connectors, Redis client.
# With `--pool threads` the threads of a process share them; the lock makes one of each.
_process: dict[str, Any] = {}
_process_lock = threading.RLock()
# Task slots of each worker process (1 a process with prefork; the threads with --pool
# threads), set by `budgetpilot worker`; None in a process that only submits.
_slots: int | None = None
# With --pool threads Celery's time limits do nothing: the tasks keep their own deadline.
_own_deadlines = False


class TaskGaveUp(BudgetPilotError):
    """A task delivered or retried ``max_attempts`` times without finishing."""


def configure(settings: Settings, *, slots: int | None = None,
              own_deadlines: bool = False) -> Celery:
    """The Celery app of the config's broker, made once per queue config; used by the
    submitter (its tasks are sent by name through it) and the worker (``slots``: the task
    slots of each of its processes; ``own_deadlines``: its pool has no time limits, so each
    per-account task keeps its own, see :func:`task_deadline`)."""
    global _settings, _slots, _own_deadlines, _app
    if slots is not None:
        _slots = slots
        _own_deadlines = own_deadlines
    queue = settings.queue
    if not queue.broker_url:
        raise BudgetPilotError("no [queue] broker_url in the config: nothing runs on workers")
    _settings = settings
    _process.clear()
    conf: dict[str, Any] = dict(
        broker_url=queue.broker_url,
        result_backend=queue.backend_url,
        task_default_queue=queue.queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Acknowledged when done, given back when the worker dies: never lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One task at a time per process: a long account does not hold others hostage.
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": queue.visibility_timeout,
            # Look for a lost worker's tasks about as often as they may be delivered again.
            "unacked_restore_interval": min(10, queue.visibility_timeout),
            "unacked_restore_throttle": 1,
        },
        result_expires=max(3600, queue.wait_timeout),
        broker_connection_retry_on_startup=True,
        # A nightly's submitter pings the workers from each portfolio's thread, and a ping
        # holds a pooled broker connection while its producer takes a second: with Celery's
        # 10 and 10 portfolios pinging at once every thread held one and waited for another.
        broker_pool_limit=broker_connections(settings),
        worker_send_task_events=True,  # `celery events`, Flower and friends see the tasks
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
    )
    key = json.dumps(conf, sort_keys=True, default=str)
    with _process_lock:
        if key not in _apps:
            app = Celery("budgetpilot", set_as_current=False)
            app.conf.update(conf)
            _apps[key] = app
        _apps.move_to_end(key)
        while len(_apps) > APPS_KEPT:
            _, old = _apps.popitem(last=False)
            _close(old, kept=list(_apps.values()))
        _app = _apps[key]
        return _app


def _close(app: Celery, *, kept: list[Celery]) -> None:
    """Close an app no longer kept: its result backend's connections (a Redis pool, the
    pub/sub that waits for results) and its broker's pooled connections. Those pools are
    kombu's, one per broker and transport options for the whole process, so they are closed
    (and forgotten) only when no kept app uses the same broker."""
    from kombu import pools
    from kombu.utils.collections import eqhash

    try:
        backend = app._backend
        if backend is not None:
            consumer = getattr(backend, "result_consumer", None)
            if consumer is not None:
                consumer.stop()
            client = backend.__dict__.get("client")  # made only once used
            if client is not None:
                client.connection_pool.disconnect()
        broker = app.connection_for_write()
        if all(eqhash(a.connection_for_write()) != eqhash(broker) for a in kept):
            for group in (pools.producers, pools.connections):
                if eqhash(broker) in group:
                    pool = group[broker]
                    del group[broker]
                    pool.force_close_all()
        broker.release()
    except Exception:  # a connection that cannot be closed cleanly is dropped anyway
        log.debug("closing an evicted Celery app", exc_info=True)
    app.close()


def broker_connections(settings: Settings) -> int:
    """Pooled broker connections of one process: two for each portfolio a submitter waits on
    at once (a ping's reply and its producer), and Celery's 10 at least."""
    return max(10, 2 * settings.queue.portfolios_at_once + 2)


def worker_app() -> Celery:
    """The app this process was configured with: a worker's own, for the tasks it sends."""
    if _app is None:
        raise BudgetPilotError("this worker was started without a config (`budgetpilot worker`)")
    return _app


def _worker_settings() -> Settings:
    if _settings is None:
        raise BudgetPilotError("this worker was started without a config (`budgetpilot worker`)")
    return _settings


def _engine(room: Connection | None = None) -> Engine:
    key = f"engine:{os.getpid()}"
    with _process_lock:
        if key not in _process:
            from campaigns.db import create_db_engine

            settings = _worker_settings()
            size = db_pool_size(room)
            # A task past the cap waits for a connection (at most as long as an account may
            # take) instead of opening one more: PostgreSQL's max_connections is shared by
            # every worker of every machine.
            _process[key] = create_db_engine(
                settings.database_url, echo=settings.database.echo, pool_size=size,
                pool_timeout=settings.queue.account_time_limit)
        return _process[key]


def db_pool_size(room: Connection | None = None) -> int | None:
    """The database connections this worker process holds at most (None: not a worker):
    :func:`db_connections`, capped on PostgreSQL to the server's room, read once a process
    (:mod:`campaigns.jobs.db_room`; on ``room`` when given)."""
    if _slots is None:
        return None
    key = f"pool:{os.getpid()}"
    with _process_lock:
        if key not in _process:
            from campaigns.jobs.db_room import pool_within_room

            settings = _worker_settings()
            asked = db_connections(settings, _slots)
            url = settings.database_url
            _process[key] = (pool_within_room(url, asked, room)
                             if url.startswith(("postgres://", "postgresql")) else asked)
        return int(_process[key])


def open_db_pool() -> None:
    """This worker's database pool, sized to the room (:func:`db_pool_size`) and opened in
    full at start, one worker at a time (:func:`campaigns.jobs.db_room.one_at_a_time`): a
    worker started after it, or at the same moment, reads the room with these connections
    in use, not as it was before this one's tasks opened them."""
    url = _worker_settings().database_url
    if not url.startswith(("postgres://", "postgresql")):
        _engine()
        return
    from campaigns.jobs.db_room import one_at_a_time

    with one_at_a_time(url) as room:
        engine = _engine(room)
        held = [engine.connect() for _ in range(engine.pool.size())]  # type: ignore[attr-defined]
        for conn in held:
            conn.close()  # back to the pool, which keeps it open


def db_connections(settings: Settings, slots: int) -> int:
    """Database connections a worker process with ``slots`` task slots holds at most:
    ``[queue] worker_db_connections``, else half the slots and at least 2. A task holds one
    only while it reads or writes, a small part of its time next to the platforms' calls and
    reports, and at least 2 lets one task's nested step never wait on itself."""
    return settings.queue.worker_db_connections or max(2, math.ceil(slots / 2))


def _connector(source_name: str) -> Connector:
    key = f"connector:{os.getpid()}:{source_name}"
    with _process_lock:
        if key not in _process:
            from campaigns.ingest.connectors import connector_for

            settings = _worker_settings()
            _process[key] = connector_for(settings.source(source_name), settings)
        return _process[key]


def _account_connector(account: Any) -> Connector:
    """The connector an account's write-back calls: the process's own for its source, as
    the sync's. Building one per task (the sandbox builds its whole world, every account's
    campaigns, and reads its journal) cost more than the account's writes: at 300 accounts
    about a CPU second an account, growing with the agency."""
    return _connector(account.source)


def time_limit_reason(settings: Settings) -> str:
    """What a task past ``[queue] account_time_limit`` says, whichever pool stopped it."""
    return f"no result within [queue] account_time_limit ({settings.queue.account_time_limit} s)"


def hard_limit_reason(settings: Settings) -> str:
    """What a task its worker ended at Celery's hard time limit is failed with."""
    queue = settings.queue
    return (f"ended by its worker at the hard time limit: [queue] account_time_limit "
            f"({queue.account_time_limit} s) + account_time_limit_grace "
            f"({queue.account_time_limit_grace} s)")


def account_time_limits(settings: Settings) -> dict[str, int | None]:
    """Celery's soft and hard time limits for one per-account task, a sync or a write-back
    (prefork pool):
    past the soft one the task stops and names the account; the hard one, the grace later,
    ends a task that ignores it. No grace: no soft limit either (at one instant the two
    would race), the worker ends it at the limit."""
    limit = settings.queue.account_time_limit
    grace = settings.queue.account_time_limit_grace
    return {"soft_time_limit": limit if grace else None, "time_limit": limit + grace}


def name_soft_limit(settings: Settings, outcomes: list[StreamOutcome]) -> list[StreamOutcome]:
    """The soft limit caught by the sync itself, as a failed stream, named as the limit."""
    limit = time_limit_reason(settings)
    return [dataclasses.replace(o, error=f"TimeoutError: {limit}")
            if o.error and "SoftTimeLimitExceeded" in o.error else o for o in outcomes]


@contextmanager
def task_deadline() -> Iterator[None]:
    """``[queue] account_time_limit`` for the platform calls of one per-account task on a
    worker whose pool has no time limits (``--pool threads``): checked before each call,
    retry and report poll (:mod:`connectors.deadline`), so a task past it stops at its next
    call, with the limit named, and gives its slot back. With prefork, Celery's own soft and
    hard limits do this (the nightly's sync tasks carry them): nothing is added."""
    if not _own_deadlines:
        yield
        return
    settings = _worker_settings()
    with deadline.within(settings.queue.account_time_limit, time_limit_reason(settings)):
        yield


def count_attempt(task_id: str, retries: int) -> int:
    """This delivery's number for a task id, counted in Redis across workers.

    Celery counts retries but not deliveries after a lost worker; with a Redis broker or
    result backend the count covers both. Without one it is the retry count alone.
    """
    settings = _worker_settings()
    url = next((u for u in (settings.queue.broker_url, settings.queue.backend_url)
                if u and u.startswith(("redis://", "rediss://"))), None)
    if url is None:
        return retries + 1
    key = f"redis:{os.getpid()}"
    with _process_lock:
        if key not in _process:
            import redis

            _process[key] = redis.Redis.from_url(url)
        client = _process[key]
    n = int(client.incr(ATTEMPTS_KEY + task_id))
    client.expire(ATTEMPTS_KEY + task_id, ATTEMPTS_TTL)
    return n


def outcome_to_json(o: StreamOutcome) -> dict[str, Any]:
    data = dataclasses.asdict(o)
    data["window"] = [d.isoformat() for d in o.window] if o.window else None
    return data


def outcome_from_json(data: dict[str, Any]) -> StreamOutcome:
    window = data.get("window")
    return StreamOutcome(**{
        **data,
        "window": (dt.date.fromisoformat(window[0]), dt.date.fromisoformat(window[1]))
        if window else None,
    })


@shared_task(
    name=SYNC_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def sync_account_task(
    self: Any, source_name: str, record: dict[str, Any], now: str
) -> list[dict[str, Any]]:
    """One account of ``budgetpilot sync``: it keeps ``[queue] account_time_limit`` as the
    nightly's sync tasks do (Celery's soft and hard limits, sent with the task, on prefork;
    its own deadline on ``--pool threads``), so a report that never ends fails the account
    by name instead of holding its slot past ``wait_timeout``."""
    settings = _worker_settings()
    try:
        with task_deadline():
            outcomes = sync_one(self, source_name, record, now)
    except SoftTimeLimitExceeded:
        raise TimeoutError(time_limit_reason(settings)) from None
    return [outcome_to_json(o) for o in
            name_soft_limit(settings, [outcome_from_json(o) for o in outcomes])]


def sync_one(
    self: Any, source_name: str, record: dict[str, Any], now: str
) -> list[dict[str, Any]]:
    """The body of a sync task (``self``: the bound task running it, for its id and
    retries): one account synced as in-process, its outcomes as JSON."""
    from campaigns.ingest.sync import sync_account

    account = AccountRecord(**record)
    label = f"{account.network}:{account.external_id}"
    settings = _worker_settings()
    attempt = count_attempt(self.request.id, self.request.retries)
    if attempt > settings.queue.max_attempts:
        raise TaskGaveUp(
            f"sync of {label} gave up after {settings.queue.max_attempts} attempts "
            "(each one failed or lost its worker)"
        )
    log.info("%s: sync attempt %d", label, attempt)
    start = time.monotonic()
    try:
        outcomes = sync_account(
            _engine(), settings, settings.source(source_name), _connector(source_name),
            account, now=dt.datetime.fromisoformat(now),
        )
    # Only the database going away or staying locked is retried here: platform errors are
    # classified and retried inside the connector, and a failed stream is an outcome.
    except (OperationalError, DatabaseBusyError) as exc:
        reason = _error_text(exc)
        if attempt >= settings.queue.max_attempts:
            raise TaskGaveUp(
                f"sync of {label} gave up after {attempt} attempts: {reason}"
            ) from None
        delay = get_exponential_backoff_interval(
            factor=1, retries=self.request.retries, maximum=settings.queue.retry_backoff_max,
            full_jitter=True,
        )
        log.warning("%s: attempt %d failed (%s); again in %d s", label, attempt, reason, delay)
        raise self.retry(countdown=delay, max_retries=None) from None
    took = round(time.monotonic() - start, 3)  # the account's time on this worker
    return [outcome_to_json(dataclasses.replace(o, seconds=took, attempt=attempt))
            for o in outcomes]


def report_to_json(report: Any) -> dict[str, Any]:
    """A :class:`campaigns.shifts.writeback.ApplyReport` as JSON (amounts as exact strings)."""
    return {
        "shift_id": report.shift_id, "claimed": report.claimed,
        "outcomes": [
            {**dataclasses.asdict(o), "new_budget": str(o.new_budget),
             "platform_budget": None if o.platform_budget is None else str(o.platform_budget)}
            for o in report.outcomes
        ],
    }


@shared_task(
    name=APPLY_TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
)
def apply_account_task(
    self: Any, shift_id: int, item_ids: list[int], actor: str, now: str, due_only: bool
) -> dict[str, Any]:
    """Apply one account's items of a shift. Each item is claimed in the database (a
    conditional UPDATE committed before the platform call) and the platform's budget is read
    before it is written, so a delivery after a lost worker never writes a budget twice."""
    return apply_one(self, shift_id, item_ids, actor, now, due_only)


def apply_one(
    self: Any, shift_id: int, item_ids: list[int], actor: str, now: str, due_only: bool
) -> dict[str, Any]:
    """The body of an apply task (``self``: the bound task running it)."""
    from sqlmodel import Session, select

    from campaigns.jobs.apply_limits import fail_unfinished, name_caught_limit, task_claim
    from campaigns.models import ShiftItem
    from campaigns.shifts import writeback

    settings = _worker_settings()
    attempt = count_attempt(self.request.id, self.request.retries)
    if attempt > settings.queue.max_attempts:
        raise TaskGaveUp(f"apply of shift {shift_id} items {item_ids} gave up after "
                         f"{settings.queue.max_attempts} attempts")
    log.info("shift %d items %s: apply attempt %d", shift_id, item_ids, attempt)
    with Session(_engine(), expire_on_commit=False) as session:
        items = list(session.scalars(
            select(ShiftItem).where(col(ShiftItem.id).in_(item_ids))
        ))
    # Named for the task: delivered again after its worker died, it takes over its items.
    claim = task_claim(self.request.id)
    limit = f"apply of shift {shift_id}: {time_limit_reason(settings)}"
    try:
        with task_deadline():  # past it, the items not yet written are given back, named
            report = writeback.apply_items(
                _engine(), shift_id, _account_connector, items=items,
                actor=actor, now=dt.datetime.fromisoformat(now), due_only=due_only,
                claim=claim,
            )
        report = name_caught_limit(_engine(), report, limit)
    except SoftTimeLimitExceeded:  # prefork: Celery's soft limit, wherever the task was
        report = fail_unfinished(_engine(), shift_id, item_ids, claim, limit, actor=actor,
                                 now=dt.datetime.fromisoformat(now))
    return {**report_to_json(report), "attempt": attempt}
