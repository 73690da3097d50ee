"""A worker process holds at most ``[queue] worker_db_connections`` PostgreSQL connections,
whatever its task slots: tasks past the cap wait for one to come back rather than fail (a
real `budgetpilot worker --pool threads` process, Redis broker, PostgreSQL state)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from api.cli.data import run_sync
from campaigns.config import load_settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.jobs.workers import db_connections
from campaigns.models import AdAccount, SyncRun
from tests.workers.processes import queue_config, redis_skip_reason, workers
from tests.workers.test_sync_workers import NOW, sandbox

_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.redis]


def test_a_worker_holds_half_its_slots_in_connections_unless_told() -> None:
    plain = settings_from_dict({"queue": {"broker_url": "redis://127.0.0.1:6379/0"}})
    assert [db_connections(plain, n) for n in (1, 2, 8, 16, 64)] == [2, 2, 4, 8, 32]
    capped = settings_from_dict({"queue": {"broker_url": "redis://127.0.0.1:6379/0",
                                           "worker_db_connections": 3}})
    assert db_connections(capped, 64) == 3


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.postgres
@pytest.mark.slow
def test_eight_thread_slots_share_two_connections_and_every_account_syncs(
    tmp_path: Path, own_pg_url: str, capsys: pytest.CaptureFixture,
) -> None:
    name = f"bp_cap_{uuid.uuid4().hex[:8]}"  # the worker's connections, told apart by name
    worker_url = f"{own_pg_url}&application_name={name}"
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, sandbox(accounts=16))
    cfg.write_text(cfg.read_text() + "worker_db_connections = 2\n")
    admin = create_db_engine(own_pg_url)
    peak: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            with admin.connect() as conn:
                peak.append(int(conn.execute(text(
                    "select count(*) from pg_stat_activity where application_name = :n"),
                    {"n": name}).scalar() or 0))

    engine = create_db_engine(own_pg_url)
    with workers(cfg, worker_url, tmp_path, count=1, concurrency=8, pool="threads") as pool:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            failed = run_sync(engine, load_settings(cfg), now=NOW)
        finally:
            stop.set()
            sampler.join()
        logs = pool[0].text()
    capsys.readouterr()
    assert failed == 0, logs
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AdAccount)) == 16
        assert s.scalar(select(func.count()).select_from(SyncRun)
                        .where(SyncRun.status == "succeeded")) >= 16
    assert max(peak) >= 1 and max(peak) <= 2, peak  # 8 tasks at once, never past the cap
    assert "concurrency: 8 (thread)" in logs and "TimeoutError" not in logs
    engine.dispose()
    admin.dispose()
