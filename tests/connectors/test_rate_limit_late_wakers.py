"""A call whose thread wakes more than ``LATE_BY`` past its turn (a loaded machine) does not
send late into the next turns' window: it gives its turn back and takes a new one, at most
``RETAKES`` times, then it goes. Given back, the turn leaves the window: the retaken one is
no later than the one given back was, and the window holds only the turns still wanted."""

from __future__ import annotations

import uuid

import pytest

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


def test_a_call_woken_late_takes_its_turn_again_instead_of_calling_late(
    limits: tuple[PlatformLimits, list[float]],
) -> None:
    platform, now = limits
    scope = ("sandbox_app", f"late_{uuid.uuid4().hex[:8]}")
    sleeps: list[float] = []
    assert platform.wait_turn([scope], "call", rules=RULES) == 0.0  # the minute's one call
    platform.wait_turn([scope], "call", rules=RULES,
                       sleep=_late_sleeper([LATE_BY + 0.2], now, sleeps))
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
    scope = ("sandbox_app", f"late_{uuid.uuid4().hex[:8]}")
    sleeps: list[float] = []
    platform.wait_turn([scope], "call", rules=RULES)
    platform.wait_turn([scope], "call", rules=RULES,
                       sleep=_late_sleeper([1.0] * 10, now, sleeps))
    assert len(sleeps) == 1 + RETAKES  # then it calls, late: it is not held for ever
    assert platform.calls_in_window(scope, RULES["sandbox_app"]) == 2  # type: ignore[arg-type]


def test_a_call_woken_a_little_late_keeps_its_turn(
    limits: tuple[PlatformLimits, list[float]],
) -> None:
    platform, now = limits
    scope = ("sandbox_app", f"late_{uuid.uuid4().hex[:8]}")
    sleeps: list[float] = []
    platform.wait_turn([scope], "call", rules=RULES)
    platform.wait_turn([scope], "call", rules=RULES,
                       sleep=_late_sleeper([LATE_BY / 2], now, sleeps))
    assert len(sleeps) == 1  # within the spacing turns are kept apart by: it calls
