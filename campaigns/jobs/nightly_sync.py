"""The nightly run's sync step: each source feeding the portfolio, each account timed.

In-process, the accounts are synced here one after another; with ``[queue] broker_url`` they
fan out, one task per account (:mod:`campaigns.jobs.sync_fanout`), and the step waits for all
of them at most ``[queue] wait_timeout``. Either way each account's wall time comes back
with its outcomes (from the task's result on workers), and an account that failed or did not
finish in time is named, so the run leaves it out of what it approves instead of waiting on
it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Engine

from campaigns.config import Settings, SourceSettings
from campaigns.ingest.sync import AccountsRunner, StreamOutcome, SyncReport
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly_report import NightlyReport, StepTiming, timed
from campaigns.jobs.nightly_runs import audit_step, error_text
from campaigns.jobs.nightly_sources import feeding_sources
from connectors.base import AccountRecord

log = logging.getLogger("budgetpilot.nightly")
ConnectorFactory = Callable[[SourceSettings, Settings], Any]


def sync_portfolio(
    engine: Engine, settings: Settings, portfolio: str, key: str, report: NightlyReport,
    synced: set[str], factory: ConnectorFactory | None, now: dt.datetime,
    timings: list[StepTiming],
) -> set[str]:
    """Sync each source feeding ``portfolio`` once per run (``synced``: those done already);
    each source's and account's wall time and outcome go to ``timings``. Returns the keys
    (``network:external_id``) of the accounts whose sync failed."""
    unsynced: set[str] = set()
    workers = _workers(settings, engine)
    for source in feeding_sources(settings, portfolio):
        if source.name in synced:
            continue
        synced.add(source.name)
        with try_lock(engine, f"sync:{source.name}") as held, \
                timed(timings, "sync", source.name) as timing:
            if not held:
                timing.error = "being synced by another run"
                report.sync_failures.append(f"{source.name}: {timing.error}")
                continue
            result, failed = _sync_source(engine, settings, source, factory, now, workers, key)
        unsynced |= source_done(engine, key, report, timings, timing, result, failed)
    return unsynced


def source_done(
    engine: Engine, key: str, report: NightlyReport, timings: list[StepTiming],
    timing: StepTiming, result: SyncReport | None, failed: list[str],
) -> set[str]:
    """One source's sync in the run's report, timings and audit log (its ``timing`` already
    measured); returns its accounts that failed. In-process and on the workers alike."""
    if failed:
        timing.error = f"{len(failed)} streams failed"
    accounts = _account_timings(result, timings) if result else set()
    if accounts:
        timing.detail = f"failed accounts: {', '.join(sorted(accounts))}"
    report.synced.append(timing.subject)
    report.sync_failures.extend(f"{timing.subject}: {f}" for f in failed)
    audit_step(engine, key, "sync", {
        "source": timing.subject, "status": "failed" if failed else "succeeded",
        "metric_rows": result.metric_rows if result else 0, "errors": failed[:20],
        "seconds": timing.seconds, "failed_accounts": sorted(accounts),
    })
    return accounts


def _sync_source(
    engine: Engine, settings: Settings, source: SourceSettings,
    factory: ConnectorFactory | None, now: dt.datetime, workers: AccountsRunner | None,
    key: str,
) -> tuple[SyncReport | None, list[str]]:
    from campaigns.ingest.connectors import connector_for
    from campaigns.ingest.sync import sync_source

    try:
        connector = (factory or connector_for)(source, settings)
        runner = workers or _in_process(engine, settings, connector, key)
        result = sync_source(engine, settings, source, connector, now=now, run_accounts=runner)
    except Exception as e:  # one source never stops the job
        log.exception("nightly: sync of %s failed", source.name)
        return None, [error_text(e)]
    return result, [f"{o.account} {o.stream}: {o.error}" for o in result.failed]


def _workers(settings: Settings, engine: Engine) -> AccountsRunner | None:
    if not settings.queue.broker_url:
        return None
    from campaigns.jobs.sync_fanout import worker_runner

    return worker_runner(settings, engine)


def _in_process(engine: Engine, settings: Settings, connector: Any, key: str) -> AccountsRunner:
    """The accounts synced here in turn, as :func:`sync_source` does, each one timed and
    counted in the run's progress."""
    from campaigns.ingest.sync import sync_account

    def run(source: SourceSettings, accounts: list[AccountRecord],
            now: dt.datetime) -> Iterator[list[StreamOutcome]]:
        progress.add_accounts(engine, key, len(accounts))
        for record in accounts:
            start = time.monotonic()
            outcomes = sync_account(engine, settings, source, connector, record, now=now)
            took = round(time.monotonic() - start, 3)
            progress.account_done(engine, key,
                                  failed=any(o.status != "succeeded" for o in outcomes))
            yield [dataclasses.replace(o, seconds=took) for o in outcomes]

    return run


def _account_timings(result: SyncReport, timings: list[StepTiming]) -> set[str]:
    """One ``sync_account`` timing per account (its streams' outcomes together); returns the
    accounts that failed."""
    by_account: dict[str, list[StreamOutcome]] = {}
    for o in result.outcomes:
        if o.stream != "fx":
            by_account.setdefault(o.account, []).append(o)
    failed = set()
    for account, outcomes in by_account.items():
        bad = [o for o in outcomes if o.status != "succeeded"]
        seconds = next((o.seconds for o in outcomes if o.seconds is not None), 0.0)
        attempt = max(o.attempt for o in outcomes)
        timings.append(StepTiming("sync_account", account, seconds, "; ".join(
            f"{o.stream}: {o.error}" for o in bad)[:500] or None,
            f"attempt {attempt}: an earlier delivery lost its worker" if attempt > 1 else ""))
        if bad and account != result.source:
            failed.add(account)
    return failed
