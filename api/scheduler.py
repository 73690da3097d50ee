"""The nightly scheduler inside the service process (``[scheduler] enabled = true``).

One APScheduler job per portfolio, on the portfolio's cron ``schedule`` in
``[scheduler].timezone``, and alert evaluation every ``alert_minutes``. Every API worker may
start a scheduler: each firing calls :func:`campaigns.jobs.nightly.run_nightly` with the slot it
fired for, which takes the portfolio's job lock and skips a slot already run (by another
worker, or by ``budgetpilot nightly`` from cron), so a job never runs twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from campaigns.alerts import service as alerts
from campaigns.config import Settings
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly import check_config, run_nightly
from campaigns.jobs.nightly_runs import this_holder
from campaigns.jobs.schedules import fires_between, triggers
from campaigns.policy import service_config

log = logging.getLogger("budgetpilot.scheduler")
MISFIRE_GRACE_SECONDS = 3600  # a worker busy or restarting at the hour still runs the job


def schedules(settings: Settings) -> dict[str, CronTrigger]:
    """Each portfolio's trigger; a bad cron expression or time zone fails at start-up."""
    return triggers(settings)


def slot_for(trigger: CronTrigger, now: dt.datetime) -> dt.datetime:
    """The latest time ``trigger`` fired at or before ``now`` (within the misfire grace):
    the slot that identifies this run, the same in every worker."""
    start = now - dt.timedelta(seconds=MISFIRE_GRACE_SECONDS)
    slot = fires_between(trigger, start, now)
    return (slot or now).replace(second=0, microsecond=0)


def run_scheduled(engine: Engine, settings: Settings, portfolio: str,
                  trigger: CronTrigger) -> None:
    slot = slot_for(trigger, dt.datetime.now(dt.UTC))
    report = run_nightly(engine, settings, portfolios=[portfolio], slot=slot,
                         holder=this_holder("serve scheduler"))
    for line in report.lines():
        log.info("nightly %s: %s", portfolio, line)


def evaluate_alerts(engine: Engine, settings: Settings) -> None:
    """Detect and deliver alerts; one worker at a time (the others skip)."""
    config = service_config(settings)
    with try_lock(engine, "alerts") as held:
        if held:
            alerts.evaluate(engine, config.pacing, config.alerts)


def start_scheduler(settings: Settings, engine: Engine) -> BackgroundScheduler | None:
    """Start the scheduler when the config enables it; None otherwise."""
    config = check_config(settings).scheduler
    if not config.enabled:
        return None
    scheduler = BackgroundScheduler(timezone=ZoneInfo(config.timezone))
    for name, trigger in schedules(settings).items():
        scheduler.add_job(
            run_scheduled, trigger, args=(engine, settings, name, trigger),
            id=f"nightly:{name}", name=f"nightly rebalance of {name}", max_instances=1,
            coalesce=True, misfire_grace_time=MISFIRE_GRACE_SECONDS, replace_existing=True,
        )
    if config.alert_minutes:
        scheduler.add_job(
            evaluate_alerts, IntervalTrigger(minutes=config.alert_minutes), args=(engine, settings),
            id="alerts", name="alert evaluation", max_instances=1, coalesce=True,
            replace_existing=True,
        )
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("scheduled %s; next run %s", job.name, job.next_run_time)
    return scheduler
