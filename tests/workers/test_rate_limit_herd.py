"""Many task slots waiting on one full window (a night's write-backs on one app's limit) each
ask Redis a few times a call, not once more at every call the window frees: every call is
granted, and none asks more than its pause and its one turn (and the pause again after
waiting for it)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
import redis

from connectors.rate_limits import PlatformLimits, rule
from tests.workers.processes import redis_skip_reason

REDIS = "redis://127.0.0.1:6379/14"

_SKIP = redis_skip_reason(REDIS)
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")


def test_a_herd_of_32_slots_on_one_full_window_asks_redis_at_most_3_times_a_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands: Counter[str] = Counter()
    execute = redis.Redis.execute_command
    lock = threading.Lock()

    def counted(self: redis.Redis, *args: Any, **options: Any) -> Any:
        with lock:
            commands[str(args[0])] += 1
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    limits = PlatformLimits(REDIS)
    scope = ("sandbox_app", f"agency_{uuid.uuid4().hex[:8]}")
    rules = {"sandbox_app": rule("40/second", "rate_limit_app")}
    limits.paused_for(scope)  # connected before the herd starts
    commands.clear()
    threads, calls_each = 32, 3
    granted: list[int] = []

    def slot() -> None:
        for _ in range(calls_each):
            limits.wait_turn([scope], "write budget", rules=rules)
            with lock:
                granted.append(1)

    pool = [threading.Thread(target=slot) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    calls = threads * calls_each
    assert len(granted) == calls  # every slot had all its turns
    asks = sum(commands.values())
    # Asking again whenever the window might have room took 5 to 9 asks a call here (every
    # waiter woke at the same freed call); a turn is the pause, the turn, the pause again.
    assert asks <= 3 * calls, (asks / calls, dict(commands))
