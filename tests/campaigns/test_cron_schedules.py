"""Portfolio schedules read as cron reads them: day-of-week 0 and 7 are Sunday, 1 is Monday
(APScheduler 3's own numbering starts at Monday = 0), with an explicit clock."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.config import settings_from_dict
from campaigns.errors import ConfigError
from campaigns.jobs.schedules import cron_day_of_week, latest_slot, triggers

UTC = dt.UTC
# Wednesday 2026-06-10, noon UTC.
WEDNESDAY = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def _trigger(cron: str, tz: str = "UTC"):  # type: ignore[no-untyped-def]
    settings = settings_from_dict({"portfolios": [{"name": "default", "schedule": cron}],
                                   "scheduler": {"timezone": tz}})
    return triggers(settings)["default"]


def _next(cron: str, after: dt.datetime = WEDNESDAY, tz: str = "UTC") -> dt.datetime:
    fire = _trigger(cron, tz).get_next_fire_time(None, after)
    assert fire is not None
    return fire


def test_a_monday_schedule_fires_on_monday() -> None:
    fire = _next("0 5 * * 1")
    assert fire == dt.datetime(2026, 6, 15, 5, 0, tzinfo=UTC) and fire.strftime("%A") == "Monday"


@pytest.mark.parametrize("dow", ["0", "7", "sun"])
def test_sunday_is_0_and_7_and_its_name(dow: str) -> None:
    assert _next(f"0 5 * * {dow}").strftime("%A %Y-%m-%d") == "Sunday 2026-06-14"


def test_weekdays_ranges_and_steps_mean_what_cron_means() -> None:
    fires, at = [], WEDNESDAY
    for _ in range(5):
        at = _next("30 2 * * 1-5", at + dt.timedelta(seconds=1))
        fires.append(at.strftime("%a"))
    assert fires == ["Thu", "Fri", "Mon", "Tue", "Wed"]
    assert cron_day_of_week("*/2") == "sun,tue,thu,sat"  # cron's 0,2,4,6
    assert cron_day_of_week("1-7/3") == "mon,thu,sun"


def test_the_latest_slot_of_a_monday_schedule_is_a_monday_in_the_schedules_zone() -> None:
    slot = latest_slot(_trigger("0 2 * * 1", "Europe/Berlin"), WEDNESDAY)
    # 02:00 Berlin (summer time) on Monday 2026-06-08 is 00:00 UTC.
    assert slot == dt.datetime(2026, 6, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("cron", ["0 5 * * 8", "0 5 * * 1-9", "0 5 * *"])
def test_a_bad_day_of_week_is_refused_naming_the_key(cron: str) -> None:
    with pytest.raises(ConfigError, match=r"portfolios\.default\.schedule"):
        _trigger(cron)


@given(st.integers(0, 7), st.datetimes(min_value=dt.datetime(2000, 1, 1),
                                        max_value=dt.datetime(2090, 1, 1)))
def test_every_numbered_day_fires_on_crons_day(day: int, start: dt.datetime) -> None:
    fire = _next(f"0 5 * * {day}", start.replace(tzinfo=UTC))
    assert fire.isoweekday() % 7 == day % 7  # cron: 0 and 7 Sunday, 1 Monday ... 6 Saturday
