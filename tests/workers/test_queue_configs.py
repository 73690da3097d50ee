"""One process submitting under several queue configs (the bench, the tests, a RabbitMQ next
to a Redis): each config's tasks go to its own broker and come back from its own result
backend, whichever config the process used first."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from campaigns.config import load_settings
from campaigns.db import create_db_engine
from campaigns.jobs.workers import configure
from campaigns.models import SyncRun
from tests.workers.processes import REDIS_URL, queue_config, redis_skip_reason, workers
from tests.workers.test_sync_workers import NOW, sandbox

_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or ""),
              pytest.mark.redis]
OTHER_DB = REDIS_URL.rsplit("/", 1)[0] + "/13"  # another Redis database: another broker


def test_each_queue_config_has_its_own_app_and_keeps_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    queue_config(first, sandbox())
    queue_config(second, sandbox(), broker_url=OTHER_DB)
    a, b = load_settings(first), load_settings(second)
    app_a, app_b = configure(a), configure(b)
    assert app_a is not app_b
    assert (app_a.conf.broker_url, app_b.conf.broker_url) == (REDIS_URL, OTHER_DB)
    assert app_b.conf.result_backend == OTHER_DB
    assert configure(a) is app_a  # back to the first config: its app, as it was
    assert app_a.conf.broker_url == REDIS_URL


@pytest.mark.postgres
@pytest.mark.slow
def test_syncs_under_two_brokers_in_one_process_each_reach_their_own_workers(
    tmp_path: Path, own_pg_url: str,
) -> None:
    from api.cli.data import run_sync

    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    queue_config(first, sandbox(accounts=1), wait_timeout=30)
    queue_config(second, sandbox(accounts=1), wait_timeout=30, broker_url=OTHER_DB)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    engine = create_db_engine(own_pg_url)
    with workers(first, own_pg_url, tmp_path / "a", count=1) as (wa,), \
            workers(second, own_pg_url, tmp_path / "b", count=1) as (wb,):
        # first, second, first again: a broker used earlier never swallows the next's tasks
        failed = [run_sync(engine, load_settings(cfg), now=NOW)
                  for cfg in (first, second, first)]
        logs = (wa.text(), wb.text())
    assert failed == [0, 0, 0]
    assert [log.count("meta:act_1001: sync attempt 1") for log in logs] == [2, 1]
    with Session(engine) as s:
        statuses = s.scalars(select(SyncRun.status)).all()
    assert statuses and set(statuses) == {"succeeded"}
    engine.dispose()


def _redis_sockets() -> int:
    """This process's open TCP connections to the Redis port (from /proc)."""
    import os

    port = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                ours.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                count += remote == port and fields[3] == "01" and fields[9] in ours
    return count


def test_apps_of_configs_no_longer_used_are_closed_with_their_connections(
    tmp_path: Path,
) -> None:
    """A process submitting under many queue configs in turn (a long test run, a service
    reloading its config) keeps the apps of the last few only: the others' result backend
    (and, when no kept app shares it, broker) connections are closed, and a config used
    again gets a working app."""
    from campaigns.jobs import workers as jobs_workers

    configs = []
    for i in range(jobs_workers.APPS_KEPT * 3):
        path = tmp_path / f"{i}.toml"
        queue_config(path, sandbox())
        configs.append(load_settings(path))
    before = _redis_sockets()
    apps = []
    for settings in configs:
        app = configure(settings)
        app.backend.client.ping()  # the result backend's connection
        with app.pool.acquire(block=True) as conn:  # a broker connection, kept by the pool
            conn.ensure_connection(max_retries=1)
        apps.append(app)
    opened = _redis_sockets() - before
    # One result backend connection per kept app, and their one broker's pool (every
    # config here names the same broker); an app per config kept would hold 3x as many.
    assert opened <= jobs_workers.APPS_KEPT + 2, opened
    assert configure(configs[-1]) is apps[-1]  # the recent ones are kept as they were
    again = configure(configs[0])  # evicted: made again, and it works
    assert again is not apps[0] and again.conf.broker_url == REDIS_URL
    assert again.backend.client.ping()
    with again.pool.acquire(block=True) as conn:
        conn.ensure_connection(max_retries=1)
