"""A call whose thread wakes more than ``LATE_BY`` past its turn (a loaded machine) does not
send late into the next turns' window: it gives its turn back and takes a new one, at most
``RETAKES`` times, then it goes. Given back, the turn leaves the window: the retaken one is
no later than the one given back was, and the window holds only the turns still wanted."""

from __future__ import annotations

import heapq
import uuid
from types import SimpleNamespace
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import rate_limits
from connectors.rate_limits import LATE_BY, RETAKES, PlatformLimits, rule
from tests.workers.processes import redis_skip_reason

REDIS = "redis://127.0.0.1:6379/14"
RULES = {"sandbox_app": rule("1/minute", "rate_limit_app")}
_REDIS_SKIP = redis_skip_reason(REDIS)


def _late_sleeper(lates: list[float], now: list[float], sleeps: list[float]):
    """A sleep that moves the injected monotonic clock by the wait, and ``lates[i]`` more on
    the i-th sleep (0 once they run out: on time)."""
    def sleep(seconds: float) -> None:
        late = lates[len(sleeps)] if len(sleeps) < len(lates) else 0.0
        sleeps.append(seconds)
        now[0] += seconds + late

    return sleep


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> tuple[PlatformLimits, list[float]]:
    if request.param == "redis" and _REDIS_SKIP:
        pytest.skip(_REDIS_SKIP)
    now = [5000.0]
    storage = "memory://" if request.param == "memory" else REDIS
    return PlatformLimits(storage, monotonic=lambda: now[0]), now


def _second_call(platform: PlatformLimits, now: list[float],
                 lateness: list[float]) -> tuple[tuple[str, str], list[float]]:
    """The window's one call on time (no wait), then a second woken ``lateness`` past each
    turn it waits for: the scope and the waits the second was told."""
    scope = ("sandbox_app", f"late_{uuid.uuid4().hex[:8]}")
    sleeps: list[float] = []
    assert platform.wait_turn([scope], "call", rules=RULES) == 0.0
    platform.wait_turn([scope], "call", rules=RULES,
                       sleep=_late_sleeper(lateness, now, sleeps))
    return scope, sleeps


def test_a_call_woken_late_takes_its_turn_again_instead_of_calling_late(
    limits: tuple[PlatformLimits, list[float]],
) -> None:
    platform, now = limits
    scope, sleeps = _second_call(platform, now, [LATE_BY + 0.2])
    # It woke 0.25 s past its turn a minute on, so it waited for a turn again (on time).
    assert len(sleeps) == 2, sleeps
    # The late turn was given back: the new one is where it was, not a minute after it
    # (the one call in the window and the retaken one; no third held for nothing).
    assert abs(sleeps[1] - sleeps[0]) < 1.0, sleeps
    assert platform.calls_in_window(scope, RULES["sandbox_app"]) == 2  # type: ignore[arg-type]


def test_a_call_woken_late_every_time_goes_after_its_retakes(
    limits: tuple[PlatformLimits, list[float]],
) -> None:
    platform, now = limits
    scope, sleeps = _second_call(platform, now, [1.0] * 10)
    assert len(sleeps) == 1 + RETAKES  # then it calls, late: it is not held for ever
    assert platform.calls_in_window(scope, RULES["sandbox_app"]) == 2  # type: ignore[arg-type]


def test_a_call_woken_a_little_late_keeps_its_turn(
    limits: tuple[PlatformLimits, list[float]],
) -> None:
    platform, now = limits
    _, sleeps = _second_call(platform, now, [LATE_BY / 2])
    assert len(sleeps) == 1  # within the spacing turns are kept apart by: it calls


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(1, 5), seconds=st.sampled_from([1, 2]),
       asks=st.lists(st.tuples(st.floats(0, 0.5), st.lists(st.floats(0, 0.3), max_size=5)),
                     min_size=1, max_size=30))
def test_calls_sent_never_pass_the_budget_in_any_window_whoever_wakes_late(
    budget: int, seconds: int, asks: list[tuple[float, list[float]]],
) -> None:
    """Callers ask for turns side by side (each ``(gap after the last ask, how late it wakes
    each time)``), a discrete simulation on one clock: a caller woken more than LATE_BY late
    gives its turn back and takes another, up to RETAKES times (past them it is taken to wake
    on time: the guarantee is for calls sent within LATE_BY of their turn)."""
    clock = [1000.0]
    platform = PlatformLimits("memory://")
    item = rule(f"{budget}/{seconds} second", "rate_limit_app")
    assert item is not None
    windows = [(("sandbox_app", "sim"), item)]
    events: list[tuple[float, int, int, str]] = []  # (wakes at, n, caller, its turn)
    due: dict[int, float] = {}  # n -> when the turn was
    lates = [list(late) for _, late in asks]
    retakes = [0] * len(asks)
    sent: list[float] = []

    def ask(caller: int, when: float, give_back: str | None) -> None:
        clock[0] = when
        wait, turn = platform._take_turn(windows, give_back=give_back)
        late = lates[caller].pop(0) if lates[caller] else 0.0
        if retakes[caller] >= RETAKES:
            late = min(late, LATE_BY)
        n = len(due)
        due[n] = when + max(wait, 0.0)
        heapq.heappush(events, (due[n] + late, n, caller, turn))

    def wake() -> None:
        when, n, caller, turn = heapq.heappop(events)
        if when - due[n] > LATE_BY and retakes[caller] < RETAKES:
            retakes[caller] += 1
            ask(caller, when, turn)
        else:
            sent.append(when)

    at = clock[0]
    with patch.object(rate_limits, "time", SimpleNamespace(time=lambda: clock[0])):
        for caller, (gap, _) in enumerate(asks):
            at += gap
            while events and events[0][0] <= at:  # the wakes before this ask, in order
                wake()
            ask(caller, at, None)
        while events:
            wake()
    assert len(sent) == len(asks)  # every caller called once
    sent.sort()
    for i, begin in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < begin + seconds) <= budget, sent
