"""The pauses run on the injectable clock; the window's turns on the window's own (Redis's
``TIME``, or ``time.time()`` in memory; it takes no clock): a wait is never measured across
the two, so an injected clock can neither stretch a window's wait nor cut it short."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.rate_limits import LATE_BY, PlatformLimits, next_turn, rule

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
    # The one call of the minute was just taken: the next waits at most that minute (and
    # the spacing that keeps a call woken a little late within it).
    assert len(waits) == 1 and 0 < waits[0] <= 60 + LATE_BY


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
    assert waits and waits[0] <= 60 + LATE_BY


@settings(max_examples=300, deadline=None)
@given(budget=st.integers(1, 6), seconds=st.integers(1, 5),
       gaps=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=40))
def test_turns_never_put_more_than_the_budget_in_any_window_and_lose_no_time(
    budget: int, seconds: int, gaps: list[float],
) -> None:
    now, turns = 1000.0, []
    for gap in gaps:
        now += gap
        at = next_turn(now, [(turns[::-1][:budget], budget, seconds)])
        # never before it is asked for, and as soon as the window allows (throughput)
        assert at >= now
        # ... at once, or right after the last turn, or just as the budget-th last leaves
        assert at in {now, *turns[-1:], *(t + seconds for t in turns[-budget:][:1]
                                          if len(turns) >= budget)}
        turns.append(at)
    assert turns == sorted(turns)  # in order
    for i, begin in enumerate(turns):
        assert sum(1 for t in turns[i:] if t < begin + seconds) <= budget


def test_a_pause_recorded_while_a_call_waits_its_turn_holds_the_call_until_it_ends() -> None:
    now = [1000.0]
    limits = PlatformLimits(clock=lambda: now[0])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 1:  # as its turn comes, another worker is throttled: retry in 30 s
            limits.pause(SCOPE, 30.0, "throttled, retry in 30 s")

    assert limits.wait_turn([SCOPE], "call", rules=RULES, sleep=sleep) == 0.0
    limits.wait_turn([SCOPE], "call", rules=RULES, sleep=sleep)
    # its turn came after a minute, but the platform's 30 s were waited out before calling
    assert sleeps[1] == 30.0
    assert limits.paused_for(SCOPE) == 0.0
    assert len(sleeps) == 3  # and a new turn taken after the pause, in the window's order
