"""Secrets never leave the process: plant a known value in every configured secret, make each
connector fail (Meta unreachable, Google Ads refusing, a webhook down, a database that cannot be
reached) and look for the values in everything a user, a viewer or a webhook can read."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from api.app import create_app
from api.cli.main import app as cli
from campaigns.admin import auth
from campaigns.alerts import service as alerts
from campaigns.config import load_settings
from campaigns.db import open_engine
from campaigns.models import Alert, AuditEvent, ShiftItem, SyncRun
from campaigns.policy import service_config
from campaigns.shifts.writeback import apply_items
from connectors.meta import MetaConnector
from connectors.redact import forget_secrets
from connectors.retry import RetryPolicy
from tests.connectors.fake_gads import FakeGoogleAds
from tests.connectors.fake_graph import FakeGraph
from tests.connectors.test_writeback import _shift

ROOT = Path(__file__).resolve().parents[2]
META_TOKEN = "planted-meta-token-7f3a9c"
APP_SECRET = "planted-app-secret-51c2e0"
DEV_TOKEN = "planted-dev-token-88ab41"
REFRESH_TOKEN = "planted-refresh-token-03de77"
CLIENT_SECRET = "planted-client-secret-9e0f12"
REVOKED = "planted-revoked-refresh-token-5a1b"
HOOK_PASSWORD = "planted-hook-password-4b7d"
HOOK_PATH = "planted-hook-path-61aa90"
DB_PASSWORD = "planted-db-password-2c5e"
PROOF = hmac.new(APP_SECRET.encode(), META_TOKEN.encode(), hashlib.sha256).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Hooks:
    """A local webhook receiver: /ok accepts, /down answers 500; every body is kept."""

    def __init__(self) -> None:
        bodies = self.bodies = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bodies.append(f"{self.path} {self.headers} {body.decode()}")
                self.send_response(200 if "/ok/" in self.path else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Hooks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[_Hooks]:
    with _Hooks() as h:
        yield h


@pytest.fixture
def world(tmp_path: Path, gads: FakeGoogleAds, graph: FakeGraph, hooks: _Hooks,
          monkeypatch: pytest.MonkeyPatch):
    """A config whose every secret holds a planted value; one Meta source unreachable, one
    behind a proxy answering 502, Google Ads refusing the developer token and a revoked refresh
    token, one of two webhooks down."""
    graph.state.tokens = {META_TOKEN}
    graph.state.add_account("act_2")
    graph.state.fail("/act_2", status=502, code=None, raw_body="<html>Bad Gateway</html>",
                     times=1000)
    gads.state.refresh_tokens = {REFRESH_TOKEN}
    gads.state.client_secret = CLIENT_SECRET
    gads.state.developer_token = "the-one-google-issued"  # ours is refused
    gads.state.add_customer("1000000002", currency="EUR")
    hook = f"http://hook:{HOOK_PASSWORD}@127.0.0.1:{hooks.port}"
    env = {
        "T_META_TOKEN": META_TOKEN, "T_META_APP_SECRET": APP_SECRET,
        "T_GADS_DEV": DEV_TOKEN, "T_GADS_REFRESH": REFRESH_TOKEN, "T_GADS_REVOKED": REVOKED,
        "T_GADS_CLIENT_ID": "planted-client-id", "T_GADS_CLIENT_SECRET": CLIENT_SECRET,
        "T_HOOK_OK": f"{hook}/ok/{HOOK_PATH}", "T_HOOK_DOWN": f"{hook}/down/{HOOK_PATH}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    db = tmp_path / "leaks.db"
    config = tmp_path / "leaks.toml"
    config.write_text(f"""
[database]
url = "sqlite:///{db}"

[[sources]]
name = "meta"
kind = "meta"
base_url = "http://127.0.0.1:{_closed_port()}"
access_token_env = "T_META_TOKEN"
app_secret_env = "T_META_APP_SECRET"
account_ids = ["act_1"]
retry_max_attempts = 2
retry_base_delay = 0.001
timeout_seconds = 5

[[sources]]
name = "meta-proxy"
kind = "meta"
base_url = "{graph.base_url}"
access_token_env = "T_META_TOKEN"
app_secret_env = "T_META_APP_SECRET"
account_ids = ["act_2"]
retry_max_attempts = 2
retry_base_delay = 0.001
timeout_seconds = 5

[[sources]]
name = "gads"
kind = "google_ads"
endpoint = "{gads.endpoint}"
token_uri = "{gads.token_uri}"
developer_token_env = "T_GADS_DEV"
refresh_token_env = "T_GADS_REFRESH"
client_id_env = "T_GADS_CLIENT_ID"
client_secret_env = "T_GADS_CLIENT_SECRET"
customer_ids = ["1000000002"]
retry_max_attempts = 2
retry_base_delay = 0.001
timeout_seconds = 5

[[sources]]
name = "gads-revoked"
kind = "google_ads"
endpoint = "{gads.endpoint}"
token_uri = "{gads.token_uri}"
developer_token_env = "T_GADS_DEV"
refresh_token_env = "T_GADS_REVOKED"
client_id_env = "T_GADS_CLIENT_ID"
client_secret_env = "T_GADS_CLIENT_SECRET"
customer_ids = ["1000000002"]
retry_max_attempts = 2
retry_base_delay = 0.001
timeout_seconds = 5

[alerts]
webhooks = [{{name = "ok", url_env = "T_HOOK_OK"}}, {{name = "down", url_env = "T_HOOK_DOWN"}}]
retries_per_run = 1
""")
    yield config, env
    forget_secrets()


def _planted() -> list[str]:
    return [META_TOKEN, APP_SECRET, PROOF, DEV_TOKEN, REFRESH_TOKEN, REVOKED, CLIENT_SECRET,
            HOOK_PASSWORD, HOOK_PATH, DB_PASSWORD]


def _leaks(channels: dict[str, str]) -> list[str]:
    return [f"{secret} in {name}" for name, text in channels.items() for secret in _planted()
            if secret in text]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli.main import main; main()", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **env}, timeout=120,
    )


def _table_text(engine: Any) -> str:
    with Session(engine) as s:
        rows: list[Any] = [
            *s.scalars(select(SyncRun)), *s.scalars(select(ShiftItem)),
            *s.scalars(select(Alert)), *s.scalars(select(AuditEvent)),
        ]
    return "\n".join(json.dumps(r.model_dump(mode="json"), default=str) for r in rows)


def test_no_secret_reaches_any_output_channel(
    world: tuple[Path, dict[str, str]], hooks: _Hooks, caplog: pytest.LogCaptureFixture,
) -> None:
    config, env = world
    channels: dict[str, str] = {}

    # The real command, without -v: what a cron mail or a CI log shows.
    quiet = _run("sync", "--config", str(config), env=env)
    assert quiet.returncode == 1, quiet.stderr
    # Every failing account is named (the platform's account, as `network:id`).
    assert "meta:act_1" in quiet.stderr and "google_ads:1000000002" in quiet.stderr
    channels |= {"sync stdout": quiet.stdout, "sync stderr": quiet.stderr}
    verbose = _run("-v", "sync", "--config", str(config), env=env)
    channels |= {"sync -v stderr": verbose.stderr}

    # In process with every logger at DEBUG (urllib3, grpc, the SDKs, SQLAlchemy).
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(cli, ["sync", "--config", str(config)])
    assert result.exit_code == 1, result.output
    channels["sync output"] = result.output
    settings = load_settings(config)
    engine = open_engine(settings.database_url)

    # A shift applied through the unreachable Meta: the item's error and its audit event.
    shift_id = _shift(engine, "meta", "act_1", "EUR", [("c1", "campaign", "c1", "100", "110")])
    source = settings.source("meta")
    meta = MetaConnector.from_settings(source)
    meta.policy = RetryPolicy(max_attempts=2, base_delay=0.001, timeout=5)
    report = apply_items(engine, shift_id, lambda _account: meta, actor="tester")
    assert report.failed == 1
    channels["apply errors"] = json.dumps(report.errors)

    # Alerts on the failed syncs, posted to a webhook that accepts and one that is down.
    policy = service_config(settings)
    with httpx.Client(timeout=5) as client:
        outcome = alerts.evaluate(engine, policy.pacing, policy.alerts, client=client)
    assert outcome.created and outcome.failed  # the "down" hook refused every alert
    assert hooks.bodies
    channels["webhook bodies"] = "\n".join(hooks.bodies).replace(
        f"/ok/{HOOK_PATH}", "/ok/").replace(f"/down/{HOOK_PATH}", "/down/")  # the path we chose
    channels["tables"] = _table_text(engine)

    # What a viewer reads over the API.
    with Session(engine) as s:
        _, viewer = auth.create_token(s, name="v", role="viewer", actor="test")
        _, admin = auth.create_token(s, name="a", role="admin", actor="test")
        s.commit()
    with TestClient(create_app(settings, engine)) as api:
        for path, token in (("/api/v1/sync-runs", viewer), ("/api/v1/alerts", viewer),
                            (f"/api/v1/shifts/{shift_id}", viewer), ("/api/v1/audit", admin)):
            r = api.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, (path, r.text)
            channels[f"GET {path}"] = r.text
    runs = json.loads(channels["GET /api/v1/sync-runs"])["data"]
    assert {r["source"] for r in runs if r["status"] == "failed"} == {
        "meta", "meta-proxy", "gads", "gads-revoked"}

    channels["logs"] = caplog.text
    assert "HTTP/1.1\" 502" in caplog.text  # urllib3 logged the proxied request line
    assert "[redacted]" in channels["sync stderr"]  # the URL was there, its token was not
    assert _leaks(channels) == [], "\n".join(_leaks(channels))


def test_a_database_password_is_not_shown_when_the_database_cannot_be_reached(
    world: tuple[Path, dict[str, str]],
) -> None:
    config, env = world
    url = f"postgresql://budgetpilot:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/budgetpilot"
    env = {**env, "BUDGETPILOT_DATABASE_URL": url}
    for args in (["init-db"], ["-v", "sync"]):
        done = _run(*args, "--config", str(config), env=env)
        assert done.returncode == 4, done.stderr
        assert "database" in done.stderr
        assert _leaks({"stdout": done.stdout, "stderr": done.stderr}) == []
    bad = _run("init-db", "--config", str(config),
               env={**env, "BUDGETPILOT_DATABASE_URL": url.replace("127.0.0.1:", "127.0.0.1:x")})
    assert bad.returncode in (2, 4), bad.stderr
    assert _leaks({"stdout": bad.stdout, "stderr": bad.stderr}) == []


def test_a_service_worker_redacts_what_it_logs(world: tuple[Path, dict[str, str]]) -> None:
    """``serve`` builds each worker with :func:`api.server.build`: from then on a log line
    quoting a configured secret (here the webhook URL) shows it blanked."""
    config, env = world
    env = {**env, "BUDGETPILOT_CONFIG": str(config)}
    assert _run("init-db", "--config", str(config), env=env).returncode == 0
    worker = subprocess.run(
        [sys.executable, "-c",
         "import logging, os\nfrom api.server import build\nbuild()\n"
         "logging.getLogger('budgetpilot.api').warning('could not post to %s', "
         "os.environ['T_HOOK_DOWN'])"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    assert "could not post to" in worker.stderr
    assert _leaks({"worker stderr": worker.stderr}) == []
