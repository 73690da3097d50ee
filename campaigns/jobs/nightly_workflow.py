"""The submitting side of a nightly run on the workers: one portfolio's workflow
(:mod:`campaigns.jobs.nightly_tasks`) sent to the broker, waited for, reported.

Called by :func:`campaigns.jobs.nightly.run_nightly` under the portfolio's job lock, with the
run's progress row open: this process keeps the lock while the workers run the steps (so a
second scheduler for the slot is told who is running it), tells ``on_progress`` each time
the run moves on (its step, accounts synced and failed so far), and reads the finished run's
report back from its progress row. A run with no end within ``[queue] wait_timeout`` is
closed here as failed, naming the step it was on; a task finishing later records nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.engine import Engine

from campaigns.columns import utcnow
from campaigns.config import Settings
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly_report import (
    NightlyReport,
    PortfolioOutcome,
    outcome_from_json,
    outcome_to_json,
    timing_from_facts,
)
from campaigns.jobs.nightly_runs import audit_step
from campaigns.models import NightlyProgress
from connectors.redact import redact

log = logging.getLogger("budgetpilot.nightly")
POLL_SECONDS = 0.5


def run_on_workers(
    engine: Engine, settings: Settings, portfolio: str, key: str, *, dry: bool, holder: str,
    report: NightlyReport, on_progress: Callable[[str], None] | None = None,
) -> PortfolioOutcome:
    """Submit the portfolio's run and wait for its end; its report joins ``report``."""
    from campaigns.jobs.workers import configure

    app = configure(settings)
    with ExitStack() as locks:
        busy = _lock_sources(engine, settings, portfolio, locks)
        return _submit_and_wait(app, engine, settings, portfolio, key, dry=dry, holder=holder,
                                report=report, on_progress=on_progress, busy=busy,
                                release=locks.close)


def _lock_sources(engine: Engine, settings: Settings, portfolio: str,
                  locks: ExitStack) -> list[str]:
    """Each source's sync lock, as the in-process run takes it, held here (the workers' tasks
    are many and short-lived; a lock of this process ends with it, as the portfolio's does);
    returns the sources another run is syncing: this run leaves them out and says so."""
    from campaigns.jobs.nightly_sync import feeding_sources

    busy = []
    for source in feeding_sources(settings, portfolio):
        if not locks.enter_context(try_lock(engine, f"sync:{source.name}")):
            busy.append(source.name)
    return busy


def _submit_and_wait(
    app: Any, engine: Engine, settings: Settings, portfolio: str, key: str, *, dry: bool,
    holder: str, report: NightlyReport, on_progress: Callable[[str], None] | None,
    busy: list[str], release: Callable[[], None],
) -> PortfolioOutcome:
    from campaigns.jobs.nightly_tasks import PREPARE_TASK

    started = utcnow()
    audit_step(engine, key, "start", {"portfolio": portfolio, "dry_run": dry,
                                      "holder": holder, "on_workers": True})
    ctx = {"key": key, "portfolio": portfolio, "dry": dry, "holder": holder,
           "started_at": started.isoformat(), "busy_sources": busy}
    try:
        if not app.control.ping(timeout=1.0):
            log.warning("no worker answered on the broker yet; the run waits in queue %r "
                        "until one starts (`budgetpilot worker`)", settings.queue.queue)
        app.signature(PREPARE_TASK, (ctx,)).apply_async()
    except BrokerError as e:
        return _give_up(engine, key, portfolio, holder, dry, started, report,
                        f"cannot reach the broker: {redact(str(e))}")
    row = _wait(engine, key, settings.queue.wait_timeout, on_progress, release)
    if row is None or row.finished_at is None:
        step = row.step if row is not None else "start"
        return _give_up(engine, key, portfolio, holder, dry, started, report,
                        f"no end within [queue] wait_timeout "
                        f"({settings.queue.wait_timeout} s); it was at step {step}")
    return _read_back(row, report)


def _wait(engine: Engine, key: str, timeout: float,
          on_progress: Callable[[str], None] | None,
          release: Callable[[], None]) -> NightlyProgress | None:
    """Poll the run's progress row until it ends; the sources' sync locks are let go once the
    run is past its sync (its optimise stage taken)."""
    from campaigns.jobs.nightly_steps import OPTIMISE

    deadline = time.monotonic() + timeout
    said = ""
    while True:
        row = progress.read(engine, key)
        if row is not None and (row.stage >= OPTIMISE or row.finished_at is not None):
            release()
        if row is not None:
            line = progress_line(row)
            if line != said:
                said = line
                log.info("%s", line)
                if on_progress is not None:
                    on_progress(line)
            if row.finished_at is not None:
                return row
        if time.monotonic() >= deadline:
            return row
        time.sleep(POLL_SECONDS)


def progress_line(row: NightlyProgress) -> str:
    """``nightly default@2026-06-15T02:00Z: sync, 120/500 accounts synced, 2 failed``."""
    if row.finished_at is not None:
        return f"nightly {row.key}: finished"
    line = f"nightly {row.key}: {row.step}"
    if row.accounts_total:
        line += f", {row.accounts_synced}/{row.accounts_total} accounts synced"
        if row.accounts_failed:
            line += f", {row.accounts_failed} failed"
    return line


def _read_back(row: NightlyProgress, report: NightlyReport) -> PortfolioOutcome:
    data = row.outcome or {}
    if "portfolio" not in data:  # closed as abandoned by a later run
        return PortfolioOutcome(row.portfolio, "failed", f"the run ended {row.step}")
    report.synced += data.get("synced", [])
    report.sync_failures += data.get("sync_failures", [])
    report.unsynced |= set(data.get("unsynced", []))
    report.alerts_created += int(data.get("alerts_created", 0))
    report.timings += [timing_from_facts(t) for t in data.get("timings", [])]
    return outcome_from_json(data["portfolio"])


def _give_up(engine: Engine, key: str, portfolio: str, holder: str, dry: bool,
             started: dt.datetime, report: NightlyReport, why: str) -> PortfolioOutcome:
    """Close the run as failed (once: unless its last task closed it first)."""
    outcome = PortfolioOutcome(portfolio, "failed", errors={"workflow": why})
    won = progress.close(engine, key, {"portfolio": outcome_to_json(outcome)}, {
        "status": "failed", "shift_id": None, "dry_run": dry, "auto_approved": False,
        "applied": [], "errors": outcome.errors, "held": [], "hard_stops": [], "changes": [],
        "holder": holder, "timings": [], "started_at": started.isoformat(), "on_workers": True,
    })
    if not won:  # it finished just now after all
        row = progress.read(engine, key)
        if row is not None:
            return _read_back(row, report)
    log.error("nightly %s: %s", key, why)
    return outcome
