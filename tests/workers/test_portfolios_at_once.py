"""``[queue] portfolios_at_once``: a bad value stops the config by name, and the submitter's
engine opens as many connections as the portfolios it waits on side by side hold (their
locks, a progress read each), so none waits for a connection another holds for its run, and
pings the workers from each of them at once without running out of broker connections.
How many run at once on real workers: tests/workers/test_nightly_portfolios.py."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from campaigns.config import Settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.errors import ConfigError
from campaigns.jobs.nightly_sources import SPARE_CONNECTIONS, submitter_connections
from campaigns.jobs.workers import configure
from tests.workers.processes import REDIS_URL, redis_skip_reason


@pytest.mark.parametrize("value", [0, -3, "ten", 1.5])
def test_a_bad_portfolios_at_once_stops_the_config_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"queue\.portfolios_at_once"):
        settings_from_dict({"queue": {"broker_url": "redis://127.0.0.1:6379/0",
                                      "portfolios_at_once": value}})


def test_the_submitter_opens_a_connection_for_each_lock_its_portfolios_hold_at_once() -> None:
    def agency(clients: int, at_once: int | None = None) -> Settings:
        queue: dict[str, object] = {"broker_url": "redis://127.0.0.1:6379/0"}
        if at_once is not None:
            queue["portfolios_at_once"] = at_once
        return settings_from_dict({
            "sources": [{"name": f"s{i}", "kind": "sandbox", "portfolio": f"c{i}"}
                        for i in range(clients)],
            "portfolios": [{"name": f"c{i}"} for i in range(clients)],
            "queue": queue,
        })

    # Each client: its lock, its source's sync lock, a progress read; and a few to spare.
    assert submitter_connections(agency(10)) == 10 * 3 + SPARE_CONNECTIONS
    assert submitter_connections(agency(10, at_once=4)) == 4 * 3 + SPARE_CONNECTIONS
    assert submitter_connections(agency(30)) == 10 * 3 + SPARE_CONNECTIONS  # 10 at once
    engine = create_db_engine("postgresql://u@127.0.0.1/x",
                              connections=submitter_connections(agency(20, at_once=20)))
    assert engine.pool.size() + engine.pool._max_overflow >= 20 * 3  # type: ignore[attr-defined]


_REDIS_SKIP = redis_skip_reason()


@pytest.mark.redis
@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
def test_as_many_portfolios_as_allowed_ping_the_workers_at_once_without_a_deadlock() -> None:
    # Each portfolio's thread pings the workers before it submits; a ping holds a pooled
    # broker connection and takes a second for its producer, so a pool of 10 (Celery's)
    # left 10 portfolios each holding one and waiting for another, for ever.
    at_once = 12
    settings = settings_from_dict({"queue": {
        "broker_url": REDIS_URL.rsplit("/", 1)[0] + "/12",
        "queue": f"bp-test-{uuid.uuid4().hex[:10]}", "portfolios_at_once": at_once}})
    app = configure(settings)
    barrier = threading.Barrier(at_once)
    answered: list[object] = []

    def ping() -> None:
        barrier.wait(timeout=30)
        answered.append(app.control.ping(timeout=0.5))

    pool = [threading.Thread(target=ping, daemon=True) for _ in range(at_once)]
    for t in pool:
        t.start()
    until = time.monotonic() + 60
    for t in pool:
        t.join(timeout=max(0.0, until - time.monotonic()))
    assert len(answered) == at_once  # every ping came back (no worker: none answered)
