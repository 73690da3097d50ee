"""Real `budgetpilot worker` processes for tests, on the Redis at 127.0.0.1:6379.

Each worker runs in a process group of its own so a test can SIGKILL it with its pool
children, as a machine that dies would; every worker started here is killed at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REDIS_URL = os.environ.get("BUDGETPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUDGETPILOT = Path(sys.executable).with_name("budgetpilot")


def redis_skip_reason(url: str = REDIS_URL) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return None
    except Exception as e:  # any failure means "skip", with the reason shown
        return f"Redis not reachable at {url}: {type(e).__name__}: {e}"


def queue_config(
    path: Path, source: str, *, visibility_timeout: int = 3600, wait_timeout: int = 120,
    broker_url: str = REDIS_URL,
) -> str:
    """A config with ``source`` (TOML text) and a queue of its own on the test Redis."""
    queue = f"bp-test-{uuid.uuid4().hex[:10]}"
    path.write_text(
        f"{source}\n[queue]\nbroker_url = \"{broker_url}\"\nqueue = \"{queue}\"\n"
        f"visibility_timeout = {visibility_timeout}\nwait_timeout = {wait_timeout}\n"
    )
    return queue


class Worker:
    def __init__(self, config: Path, database_url: str, log: Path, concurrency: int,
                 pool: str = "prefork") -> None:
        self.log = log
        env = {**os.environ, "BUDGETPILOT_DATABASE_URL": database_url}
        self.proc = subprocess.Popen(
            [str(BUDGETPILOT), "worker", "--config", str(config),
             "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker never logged {needle!r}:\n{self.text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: nothing is acknowledged or cleaned up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def workers(
    config: Path, database_url: str, tmp: Path, count: int = 2, concurrency: int = 1,
    pool: str = "prefork",
) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for i in range(count):
            started.append(Worker(config, database_url, tmp / f"worker{i}.log", concurrency,
                                  pool))
        for w in started:
            w.wait_for(" ready.")
        yield started
    finally:
        for w in started:
            with suppress(ProcessLookupError):
                w.kill()


def kill_the_one_running(pool: list[Worker], needle: str, *, after: float) -> tuple[Worker, Worker]:
    """Wait until one of two workers logs ``needle`` (a task started), let it run ``after``
    seconds more, SIGKILL it; returns (the killed worker, the other)."""
    a, b = pool
    deadline = time.monotonic() + 60
    while needle not in a.text() + b.text():
        assert time.monotonic() < deadline, a.text() + b.text()
        time.sleep(0.02)
    victim, survivor = (a, b) if needle in a.text() else (b, a)
    time.sleep(after)
    victim.kill()
    return victim, survivor
