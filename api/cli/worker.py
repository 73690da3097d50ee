"""`budgetpilot worker`: a Celery worker for the config's ``[queue]``."""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from typing import Annotated

import typer

from api.cli.app import ConfigOption, app, engine_for, handles_errors, load
from campaigns.errors import ConfigError


class Pool(StrEnum):
    prefork = "prefork"
    threads = "threads"


# Task slots of a `--pool threads` worker by default. A sync task spends nearly all its time
# waiting on the platform (its calls, its async report) and holds no database connection
# then, so a thread pool far wider than the CPU count pays; 16 keeps a worker's platform
# calls well inside one app's rate limit, on 8 database connections
# (campaigns.jobs.workers.db_connections).
THREADS_DEFAULT = 16


def default_concurrency(pool: Pool) -> int | None:
    """The slots a worker runs without ``--concurrency``: None lets Celery use the CPU count
    (prefork: a process each)."""
    return THREADS_DEFAULT if pool is Pool.threads else None


@app.command("worker")
@handles_errors
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=512, help="Tasks run at once: processes (default: the CPU "
                     f"count), or threads with --pool threads (default: {THREADS_DEFAULT}). "
                     "Syncs wait on the platforms, so more than the CPU count pays."),
    ] = None,
    pool: Annotated[
        Pool,
        typer.Option(help="prefork: a process per task slot; threads: one process whose "
                     "threads wait on the platforms side by side (less memory per slot)."),
    ] = Pool.prefork,
    loglevel: Annotated[str, typer.Option(help="Celery's log level.")] = "INFO",
) -> None:
    """Run the tasks submitted on a broker ([queue] broker_url): the per-account sync of
    `budgetpilot sync`, the write-back of `shifts apply`, and the nightly run's workflow.

    Each task is one account; it is acknowledged when done and given back to the broker if
    this worker dies, so another worker syncs that account again (the writes are upserts).
    Stop it with SIGTERM (finishes the tasks it is running) or Ctrl-C.
    """
    settings = load(config)
    if not settings.queue.broker_url:
        raise ConfigError(
            f"{settings.path or 'config'}: `budgetpilot worker` needs [queue] broker_url "
            '(e.g. "redis://127.0.0.1:6379/0"); without one, sync runs in-process'
        )
    import campaigns.jobs.nightly_tasks  # noqa: F401  (registers the nightly workflow's tasks)
    from campaigns.jobs.workers import configure

    engine_for(settings).dispose()  # the schema is this version's before any task runs
    slots = concurrency or default_concurrency(pool)
    # Each prefork process runs one task; a thread pool's process runs them all.
    threads = pool is Pool.threads
    celery_app = configure(settings, slots=(slots or 1) if threads else 1,
                           own_deadlines=threads)
    if threads:  # the room read now, so a capped pool is said at start (prefork: per child)
        from campaigns.jobs.workers import open_db_pool

        open_db_pool()
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--queues={settings.queue.queue}",
        f"--hostname=budgetpilot-{os.getpid()}@{socket.gethostname()}",
        "--prefetch-multiplier=1",
        f"--pool={pool.value}",
    ]
    if slots:
        argv.append(f"--concurrency={slots}")
    celery_app.worker_main(argv)
