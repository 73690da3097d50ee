"""Alerts: detected once, listed, acknowledged, delivered to webhooks with retries, never twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.alerts import service as alerts
from campaigns.models import Alert
from campaigns.policy import AlertSettings, PacingSettings, WebhookSettings
from tests.api.factories import (
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
    create_sync_run,
)

Headers = Callable[[str], dict[str, str]]
D = dt.date
NOW = dt.datetime.now(dt.UTC)


def _overspending(db: Session) -> None:
    acc = create_account(db, external_id="act_9")
    camp = create_campaign(db, account=acc)
    add_metrics(db, campaign=camp, start=D(2024, 1, 1), spends=["150"] * 15)  # plan is 100/day
    create_plan(db, month=D(2024, 1, 1), planned="3100")
    create_sync_run(db, account=acc, status="failed", error="token expired")
    create_shift(db, campaigns=[camp], new_budgets=["110"])
    db.commit()


def test_detect_store_once(engine: Engine, db: Session) -> None:
    _overspending(db)
    settings = AlertSettings(approval_wait_hours=0.001)
    first = alerts.evaluate(engine, PacingSettings(), settings, now=NOW + dt.timedelta(hours=1),
                            as_of=D(2024, 1, 15))
    kinds = {a.kind for a in db.exec(select(Alert))}
    assert {"plan_breach_forecast", "sync_failed", "shift_waiting"} <= kinds
    again = alerts.evaluate(engine, PacingSettings(), settings, now=NOW + dt.timedelta(hours=2),
                            as_of=D(2024, 1, 15))
    assert first.created and again.created == []


class Hook:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[dict] = []
        self.fail_times = fail_times

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import json

        self.calls.append(json.loads(request.content))
        if self.fail_times > 0:
            self.fail_times -= 1
            return httpx.Response(503, text="busy")
        return httpx.Response(200, text="ok")


def test_delivery_retries_and_never_twice(
    engine: Engine, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.example.test/T000/B000")
    _overspending(db)
    hook = Hook(fail_times=1)
    client = httpx.Client(transport=httpx.MockTransport(hook))
    settings = AlertSettings(webhooks=[WebhookSettings(name="slack", url_env="TEST_SLACK_URL")],
                             approval_wait_hours=1000, stale_sync_hours=1000, retries_per_run=2)
    result = alerts.evaluate(engine, PacingSettings(), settings, now=NOW, as_of=D(2024, 1, 15),
                             client=client)
    assert result.delivered and not result.failed
    sent = len(hook.calls)
    assert sent == len(result.delivered) + 1  # one retry after the 503
    assert all(c["text"].startswith(":") for c in hook.calls)
    again = alerts.evaluate(engine, PacingSettings(), settings, now=NOW, as_of=D(2024, 1, 15),
                            client=client)
    assert again.delivered == [] and len(hook.calls) == sent
    rows = db.exec(select(Alert)).all()
    assert all(r.delivered_at is not None and r.delivery_attempts == 1 for r in rows)


def test_failed_delivery_is_retried_next_run(
    engine: Engine, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.example.test/x")
    _overspending(db)
    down = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    settings = AlertSettings(webhooks=[WebhookSettings(name="slack", url_env="TEST_SLACK_URL")],
                             retries_per_run=1, max_delivery_attempts=3)
    first = alerts.evaluate(engine, PacingSettings(), settings, now=NOW, as_of=D(2024, 1, 15),
                            client=down)
    assert first.failed and not first.delivered
    hook = Hook()
    up = httpx.Client(transport=httpx.MockTransport(hook))
    second = alerts.evaluate(engine, PacingSettings(), settings, now=NOW, as_of=D(2024, 1, 15),
                             client=up)
    assert sorted(second.delivered) == sorted(first.failed)
    assert len(hook.calls) == len(first.failed)


def test_list_and_acknowledge(
    client: TestClient, as_role: Headers, db: Session, engine: Engine
) -> None:
    _overspending(db)
    alerts.evaluate(engine, PacingSettings(), AlertSettings(), now=NOW, as_of=D(2024, 1, 15))
    listed = client.get("/api/v1/alerts?acknowledged=false", headers=as_role("viewer")).json()
    assert listed["count"] >= 2
    alert_id = listed["data"][0]["id"]
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge",
                       headers=as_role("viewer")).status_code == 403
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=as_role("manager"))
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "manager"
    left = client.get("/api/v1/alerts?acknowledged=false", headers=as_role("viewer")).json()
    assert left["count"] == listed["count"] - 1


def test_evaluate_endpoint(client: TestClient, as_role: Headers) -> None:
    r = client.post("/api/v1/alerts/evaluate?as_of=2024-01-15", headers=as_role("service"))
    assert r.status_code == 200 and r.json() == {"created": [], "delivered": [], "failed": []}
