"""The pauses run on the injectable clock; the moving window on the ``limits`` library's own
(it stamps every call with ``time.time()`` and takes no clock): a wait is never measured
across the two, so an injected clock can neither stretch a window's wait nor cut it short."""

from __future__ import annotations

import pytest

from connectors.rate_limits import PlatformLimits, rule

SCOPE = ("sandbox_app", "agency")
RULES = {"sandbox_app": rule("1/minute", "rate_limit_app")}


class _Slept(Exception):
    """Raised by the test's sleep: the call would have waited (the wait is recorded)."""


def _sleeper(waits: list[float]):
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise _Slept

    return sleep


def test_a_full_window_waits_for_the_window_not_for_an_injected_clock() -> None:
    limits = PlatformLimits(clock=lambda: 1000.0)  # far from the wall clock (1970)
    waits: list[float] = []
    assert limits.wait_turn([SCOPE], "call", rules=RULES, sleep=_sleeper(waits)) == 0.0
    with pytest.raises(_Slept):
        limits.wait_turn([SCOPE], "call", rules=RULES, sleep=_sleeper(waits))
    # The one call of the minute was just taken: the next waits at most that minute.
    assert len(waits) == 1 and 0 < waits[0] <= 60


def test_moving_the_injected_clock_ends_a_pause_but_frees_no_call_of_the_window() -> None:
    now = [1000.0]
    limits = PlatformLimits(clock=lambda: now[0])
    limits.pause(SCOPE, 30.0, "x-app-usage over the threshold")
    assert limits.paused_for(SCOPE) == 30.0
    now[0] += 31
    assert limits.paused_for(SCOPE) == 0.0
    waits: list[float] = []
    assert limits.wait_turn([SCOPE], "call", rules=RULES, sleep=_sleeper(waits)) == 0.0
    now[0] += 3600  # an hour on the injected clock; the window's minute has not passed
    with pytest.raises(_Slept):
        limits.wait_turn([SCOPE], "call", rules=RULES, sleep=_sleeper(waits))
    assert waits and waits[0] <= 60
