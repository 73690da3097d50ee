"""POST /api/v1/optimizations end to end: a service token proposes on data synced from the
sandbox, a manager approves, the service applies, and the sandbox platform's budgets move."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import optimize as optimize_cli
from api.cli.main import app as cli_app
from campaigns.config import Settings
from campaigns.models import AuditEvent, BudgetShift, OptimizationRun
from tests.api.sandbox import platform_budgets, sandbox_settings, sync_sandbox

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sandbox_settings(tmp_path)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> TestClient:
    sync_sandbox(engine, settings)
    with TestClient(create_app(settings, engine)) as c:
        yield c  # type: ignore[misc]


def test_propose_approve_apply_on_the_sandbox(
    client: TestClient, as_role: Headers, db: Session, settings: Settings
) -> None:
    before = platform_budgets(settings)
    r = client.post("/api/v1/optimizations", headers=as_role("service"),
                    json={"portfolio": "default", "max_change": 0.2})
    assert r.status_code == 201, r.text
    body = r.json()
    shift_id = body["shift_id"]
    assert body["run"]["created_by"] == "service" and shift_id is not None
    assert body["result"]["run_id"] == body["run"]["id"]
    assert db.get(OptimizationRun, body["run"]["id"]) is not None

    shift = client.get(f"/api/v1/shifts/{shift_id}", headers=as_role("viewer")).json()
    assert shift["status"] == "proposed" and shift["items"]
    assert all(i["reason"] for i in shift["items"])
    # Each item says how sure its move is, the same figures as the run's allocations.
    by_campaign = {a["budget_id"]: a for a in body["result"]["allocations"]}
    for item in shift["items"]:
        same = by_campaign[item["target_external_id"]]
        assert 0 <= item["prob_gain"] <= 1 and item["prob_gain"] == same["prob_gain"]
        assert item["effect_low"] <= item["effect"] <= item["effect_high"]
        assert (item["effect_low"], item["effect_high"]) == (same["effect_low"],
                                                             same["effect_high"])
    r = client.post(f"/api/v1/shifts/{shift_id}/approve", headers=as_role("manager"),
                    json={"version": shift["version"], "comment": "looks right"})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", headers=as_role("service"),
                    json={"version": r.json()["version"]})
    assert r.status_code == 200, r.text
    applied = r.json()
    assert applied["status"] == "applied", applied
    assert {i["status"] for i in applied["items"]} <= {"applied", "skipped"}

    after = platform_budgets(settings)
    moved = {key for key in before if after[key] != before[key]}
    assert moved, "the sandbox's budgets did not change"
    for item in applied["items"]:
        if item["status"] == "applied":
            assert after[item["target_external_id"]] == Decimal(item["new_budget"])
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == str(shift_id))))
    assert {"shift.propose", "shift.approve", "shift.applying", "shift.applied"} <= actions
    assert db.get(BudgetShift, shift_id).status == "applied"  # type: ignore[union-attr]


def test_the_api_and_optimize_json_show_the_same_proposal(
    client: TestClient, as_role: Headers, db: Session, engine: Engine, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One object on both edges: the same keys in the same order and the same values, only
    the run and the shift (each call records its own) differ; both are what the run stored."""
    r = client.post("/api/v1/optimizations", headers=as_role("service"),
                    json={"portfolio": "default", "max_change": 0.2})
    assert r.status_code == 201, r.text
    from_api = r.json()["result"]
    monkeypatch.setattr(optimize_cli, "load", lambda config: settings)
    monkeypatch.setattr(optimize_cli, "engine_for", lambda s: engine)
    out = CliRunner().invoke(cli_app, ["optimize", "--json", "--max-change", "0.2"])
    assert out.exit_code == 0, out.output
    from_cli = json.loads(out.stdout)

    assert list(from_cli) == list(from_api)
    assert [list(a) for a in from_cli["allocations"]] == [list(a) for a in
                                                          from_api["allocations"]]
    assert from_cli["run_id"] != from_api["run_id"]
    assert from_cli["shift_id"] != from_api["shift_id"] is not None
    ids = ("run_id", "shift_id")
    assert ({k: v for k, v in from_cli.items() if k not in ids}
            == {k: v for k, v in from_api.items() if k not in ids})
    for shown in (from_api, from_cli):
        db.expire_all()
        run = db.get(OptimizationRun, shown["run_id"])
        assert run is not None and run.outputs == shown


def test_roles_and_bad_portfolio(client: TestClient, as_role: Headers) -> None:
    assert client.post("/api/v1/optimizations", headers=as_role("viewer"), json={}).status_code == 403
    assert client.post("/api/v1/optimizations", json={}).status_code == 401
    r = client.post("/api/v1/optimizations", headers=as_role("manager"),
                    json={"portfolio": "nowhere"})
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_an_exploration_move_is_labelled_in_the_result_and_on_its_shift_item(
    engine: Engine, settings: Settings, as_role: Headers,
) -> None:
    """Under `exploration = "voi"` the moves made to learn a curve carry `exploration: true`
    and say so in their reason, in the run's result and on the shift's items alike; the
    money they move stays within the configured share of the total."""
    voi = settings.model_copy(update={"optimizer": settings.optimizer.model_copy(
        update={"exploration": "voi", "exploration_max_share": 0.2})})
    sync_sandbox(engine, voi)
    with TestClient(create_app(voi, engine)) as client:
        r = client.post("/api/v1/optimizations", headers=as_role("service"),
                        json={"portfolio": "default", "max_change": 0.2})
        assert r.status_code == 201, r.text
        result = r.json()["result"]
        shift = client.get(f"/api/v1/shifts/{r.json()['shift_id']}",
                           headers=as_role("viewer")).json()
    assert result["exploration"] == "voi"
    explored = [a for a in result["allocations"] if a["exploration"]]
    assert explored, "nothing was explored"
    assert all(a["reason"].startswith("exploration: ") for a in explored)
    assert not any(a["reason"].startswith("exploration") for a in result["allocations"]
                   if not a["exploration"])
    items = {i["target_external_id"]: i for i in shift["items"]}
    for a in result["allocations"]:
        item = items.get(a["budget_id"])
        if item is not None:
            assert item["exploration"] is a["exploration"] and item["reason"] == a["reason"]
    assert any(i["exploration"] for i in items.values())
