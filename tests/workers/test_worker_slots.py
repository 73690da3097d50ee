"""`budgetpilot worker --pool threads` runs 16 task slots unless told otherwise: syncs wait on
the platforms, holding no database connection meanwhile (a real worker process's banner)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.workers.processes import BUDGETPILOT, queue_config, redis_skip_reason

_REDIS_SKIP = redis_skip_reason()


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.parametrize(("args", "banner"), [
    (["--pool", "threads"], "concurrency: 16 (thread)"),
    (["--pool", "threads", "--concurrency", "40"], "concurrency: 40 (thread)"),
])
def test_a_thread_pool_worker_runs_16_slots_by_default(
    tmp_path: Path, sqlite_url: str, args: list[str], banner: str,
) -> None:
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, '[[sources]]\nname = "sandbox"\nkind = "sandbox"\n')
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([str(BUDGETPILOT), "worker", "--config", str(cfg), *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "BUDGETPILOT_DATABASE_URL": sqlite_url})
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert banner in log.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=10)
