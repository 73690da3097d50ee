"""RabbitMQ as the broker: `budgetpilot sync` sends its account task to a real worker over
AMQP and gets the result back over the broker (``rpc://``), with no Redis in the config."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from api.cli.data import run_sync
from campaigns.config import load_settings
from campaigns.db import create_db_engine
from campaigns.models import DailyMetric, SyncRun
from tests.workers.processes import Worker
from tests.workers.test_sync_workers import NOW, sandbox

AMQP_URL = os.environ.get("BUDGETPILOT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmq_skip_reason() -> str | None:
    from kombu import Connection

    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            pass
        with Connection(AMQP_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return None
    except Exception as e:  # any failure means "skip", with the reason shown
        return f"RabbitMQ not reachable at {AMQP_URL}: {type(e).__name__}: {e}"


_SKIP = _rabbitmq_skip_reason()
pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow,
              pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


def test_an_account_syncs_on_a_worker_over_rabbitmq(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "amqp.toml"
    config.write_text(sandbox(accounts=1) + f'\n[queue]\nbroker_url = "{AMQP_URL}"\n'
                      f'queue = "bp-test-{uuid.uuid4().hex[:10]}"\nwait_timeout = 120\n')
    settings = load_settings(config)
    assert settings.queue.backend_url == "rpc://"  # results come back over RabbitMQ
    worker = Worker(config, sqlite_url, tmp_path / "worker.log", concurrency=1)
    try:
        worker.wait_for(" ready.")
        engine = create_db_engine(sqlite_url)
        failed = run_sync(engine, settings, now=NOW)
        worker.wait_for("succeeded in")  # Celery's own line: the task ran on that worker
    finally:
        worker.kill()
    out = capsys.readouterr().out
    assert failed == 0
    assert "sync attempt 1" in worker.text() and "amqp://" in worker.text()
    with Session(engine) as s:
        rows = s.scalar(select(func.count()).select_from(DailyMetric))
        runs = s.scalars(select(SyncRun.status).where(SyncRun.stream == "metrics")).all()
    engine.dispose()
    assert runs == ["succeeded"]
    assert out == f"meta:act_1001: {rows} metric rows 2026-05-16..2026-06-14\n" and rows == 60
