"""SQLite held by another writer: the error names what waited and says what to do, without the
SQL statement and its parameters, from the command line (exit 4) and the API (503)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from api.app import create_app
from api.cli.main import EXIT_DATABASE, app
from campaigns.admin import auth
from campaigns.config import settings_from_dict
from campaigns.db import open_engine
from tests.api.cli.test_cli import config

SQL_DUMP = ("INSERT INTO", "UPDATE ", "[SQL:", "[parameters:", "Traceback")


@contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """Another writer: a thread of its own holding SQLite's write lock until we are done."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(60)
        conn.rollback()
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def test_sync_into_a_locked_database_names_the_account_and_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    db = tmp_path / "bp.db"
    cfg = config(tmp_path)
    # a short lock wait (the default is 30 s), set the documented way: in the URL
    cfg.write_text(cfg.read_text().replace(f'"sqlite:///{db}"', f'"sqlite:///{db}?timeout=0.3"'))
    runner = CliRunner()
    assert runner.invoke(app, ["init-db", "--config", str(cfg)]).exit_code == 0
    with caplog.at_level(logging.INFO), write_lock(db):
        result = runner.invoke(app, ["sync", "--config", str(cfg)])
    assert result.exit_code == EXIT_DATABASE, result.output
    message = result.stderr
    assert "sync of account meta:act_1001 (entities)" in message  # which account waited
    assert "another budgetpilot process" in message and "PostgreSQL" in message
    assert not [s for s in SQL_DUMP if s in result.output + caplog.text], result.output


def test_a_write_to_a_locked_database_is_a_503_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "api.db"
    engine = open_engine(f"sqlite:///{db}?timeout=0.3")
    with Session(engine) as s:
        _, token = auth.create_token(s, name="admin", role="admin", actor="test")
        s.commit()
    settings = settings_from_dict({"database": {"url": f"sqlite:///{db}"}})
    with TestClient(create_app(settings, engine)) as client, write_lock(db), \
            caplog.at_level(logging.INFO):
        r = client.post("/api/v1/tokens", json={"name": "bot", "role": "viewer"},
                        headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503, r.text
    detail = r.json()["detail"]
    assert "POST /api/v1/tokens" in detail  # the operation that waited
    assert "another budgetpilot process" in detail and "PostgreSQL" in detail
    assert not [s for s in SQL_DUMP if s in r.text + caplog.text], caplog.text
