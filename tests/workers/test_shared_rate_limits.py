"""Platform rate limits held in Redis hold across processes, not only within one.

Two real Python processes share one Redis (as two workers do): the calls they take together
never exceed the budget in any window, and a pause one of them records (a usage header over
the threshold, a throttled answer's delay) keeps the other from calling before it ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.workers.processes import redis_skip_reason

REDIS = "redis://127.0.0.1:6379/14"

_SKIP = redis_skip_reason(REDIS)
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")

CALLER = """
import json, sys, time
from limits import parse
from connectors.rate_limits import PlatformLimits
uri, key, calls, rule, start, out = sys.argv[1:7]
limits = PlatformLimits(uri)
limits.paused_for(("meta_account", key))  # connect before the start line
time.sleep(max(0.0, float(start) - time.time()))  # both processes begin at once
stamps = []
for _ in range(int(calls)):
    limits.wait_turn([("meta_account", key)], "test call", rules={"meta_account": parse(rule)})
    stamps.append(time.time())
open(out, "w").write(json.dumps(stamps))
"""


def _spawn(tmp: Path, name: str, key: str, calls: int, rule: str, start: float = 0.0,
           ) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp / f"{name}.json"
    proc = subprocess.Popen([sys.executable, "-c", CALLER, REDIS, key, str(calls), rule,
                             repr(start), str(out)])
    return proc, out


def test_two_processes_together_never_exceed_the_budget_of_one_window(tmp_path: Path) -> None:
    key = f"act_{uuid.uuid4().hex[:8]}"
    # 5 calls per 2 s for one account; each process wants 8, so 16 in all: at least 3 windows.
    start = time.time() + 3.0  # time for both interpreters to start, even on a busy machine
    procs = [_spawn(tmp_path, f"p{i}", key, 8, "5/2 seconds", start) for i in range(2)]
    for proc, _ in procs:
        assert proc.wait(timeout=60) == 0
    stamps = sorted(t for _, out in procs for t in json.loads(out.read_text()))
    assert len(stamps) == 16
    # Moving window: any 2 s span holds at most 5 calls (small slack for clock reads).
    for i, begin in enumerate(stamps):
        in_window = [t for t in stamps[i:] if t < begin + 2.0 - 0.02]
        assert len(in_window) <= 5, f"{len(in_window)} calls within 2 s from call {i}"
    # Alone, each process would be done in one window and a bit (5 calls, then 3 after 2 s);
    # sharing the budget, the 16 calls need three full windows.
    assert stamps[-1] - stamps[0] >= 4.0


def test_a_pause_recorded_by_one_process_holds_the_other(tmp_path: Path) -> None:
    from connectors.rate_limits import PlatformLimits

    key = f"act_{uuid.uuid4().hex[:8]}"
    here = PlatformLimits(REDIS)
    paused_at = time.time()
    here.pause(("meta_account", key), 1.5, "x-ad-account-usage over the threshold")
    proc, out = _spawn(tmp_path, "other", key, 1, "100/second")
    assert proc.wait(timeout=30) == 0
    (called,) = json.loads(out.read_text())
    assert called >= paused_at + 1.45  # the other process did not call before the pause ended
    assert here.paused_for(("meta_account", key)) == 0.0


def test_a_pause_is_never_shortened_by_a_shorter_one() -> None:
    from connectors.rate_limits import PlatformLimits

    key = f"act_{uuid.uuid4().hex[:8]}"
    limits = PlatformLimits(REDIS)
    limits.pause(("google_token", key), 3.0, "RESOURCE_EXHAUSTED, retry in 3 s")
    limits.pause(("google_token", key), 0.5, "a later, shorter delay")
    assert limits.paused_for(("google_token", key)) > 2.0


def test_a_pause_longer_than_the_wait_allowed_fails_the_call_as_throttled() -> None:
    from connectors.base import ConnectorError
    from connectors.rate_limits import PlatformLimits

    key = f"act_{uuid.uuid4().hex[:8]}"
    limits = PlatformLimits(REDIS)
    limits.pause(("meta_app", key), 60.0, "x-app-usage 100%")
    with pytest.raises(ConnectorError) as err:
        limits.wait_turn([("meta_app", key)], "list campaigns", max_wait=5.0)
    assert err.value.kind == "throttled"
    assert "paused meta_app" in str(err.value)
