"""Each portfolio's nightly schedule (a cron expression in ``[scheduler] timezone``) and the
slot a run belongs to.

A slot is the scheduled time a run stands for. The in-service scheduler and
``budgetpilot nightly`` (cron) name the same slot for the same night, so a slot that has run
is not run again, whoever starts it (unless forced).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from campaigns.config import Settings
from campaigns.errors import ConfigError
from campaigns.policy import service_config

DEFAULT_SCHEDULE = "0 2 * * *"
# How far back the latest slot is looked for: a schedule firing less often than yearly has
# no slot before now and a run stands for itself.
_LOOKBACK = (dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=8),
             dt.timedelta(days=32), dt.timedelta(days=367))


def portfolio_names(settings: Settings) -> list[str]:
    """The configured portfolios, or ``default`` when the config names none."""
    return [p.name for p in settings.portfolios] or ["default"]


def timezone(settings: Settings) -> ZoneInfo:
    tz_name = service_config(settings).scheduler.timezone
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"config: scheduler.timezone: unknown time zone {tz_name!r}") from e


def triggers(settings: Settings) -> dict[str, CronTrigger]:
    """Each portfolio's trigger; a bad cron expression or time zone is refused, naming the
    key (``serve`` and ``nightly`` both check this before doing anything)."""
    tz = timezone(settings)
    crons = {p.name: p.schedule for p in settings.portfolios}
    out = {}
    for name in portfolio_names(settings):
        cron = crons.get(name, DEFAULT_SCHEDULE)
        try:
            out[name] = cron_trigger(cron, tz)
        except ValueError as e:
            raise ConfigError(
                f"config: portfolios.{name}.schedule: bad schedule {cron!r}: {e}"
            ) from e
    return out


def cron_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """``cron`` with cron's meaning. APScheduler 3 numbers the days of the week from 0 =
    Monday, cron from 0 (or 7) = Sunday: ``CronTrigger.from_crontab("0 5 * * 1")`` fires on
    Tuesdays. So the day-of-week field is given to it by name."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields: got {len(fields)}, expected 5")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=cron_day_of_week(dow), timezone=tz)


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # cron's 0-7


def cron_day_of_week(field: str) -> str:
    """Cron's day-of-week field (``1``, ``1-5``, ``*/2``, ``0,6``, ``mon-fri``) as day names:
    numbers, ranges and steps expanded to the days they stand for in cron."""
    if field == "*":
        return field
    days: list[str] = []
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        if span != "*" and not span[:1].isdigit():  # names mean the same to both
            days.append(part)
            continue
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ValueError(f"day of week {part!r}: expected 0-7, a range or a step")
            first, last = int(low), int(high) if high else (6 if step_text else int(low))
        if not 0 <= first <= last <= 7 or step < 1:
            raise ValueError(f"day of week {part!r}: days are 0-7 (0 and 7 are Sunday)")
        days += [_DAYS[d] for d in range(first, last + 1, step)]
    return ",".join(dict.fromkeys(days))


def fires_between(trigger: CronTrigger, start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    """The last time ``trigger`` fires in ``[start, end]``, or None."""
    slot, fire = None, trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
    return slot


def latest_slot(trigger: CronTrigger, now: dt.datetime) -> dt.datetime:
    """The latest scheduled time at or before ``now``: the slot a cron-started run stands for
    (a run at 02:05 or at 11:00 for a ``0 2 * * *`` schedule both stand for 02:00 today)."""
    for window in _LOOKBACK:
        slot = fires_between(trigger, now - window, now)
        if slot is not None:
            return slot.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return now.astimezone(dt.UTC).replace(second=0, microsecond=0)
