from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from campaigns.models import AuditEvent
from tests.api.factories import create_account, create_campaign

Headers = Callable[[str], dict[str, str]]


def test_plan_crud_versions_and_audit(client: TestClient, as_role: Headers, db: Session) -> None:
    account = create_account(db, network="google", external_id="123-456")
    create_campaign(db, account=account, external_id="9")
    db.commit()
    fin = as_role("finance")
    body = {"month": "2024-02-01", "scope": "campaign", "scope_key": "google:123-456:9",
            "planned_spend": "2900.50"}
    r = client.post("/api/v1/plans", json=body, headers=fin)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["currency"] == "EUR" and plan["planned_spend"] == "2900.50" and plan["version"] == 1
    assert client.post("/api/v1/plans", json=body, headers=fin).status_code == 409
    r = client.put(f"/api/v1/plans/{plan['id']}", json={"planned_spend": "3000", "version": 1},
                   headers=fin)
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = client.put(f"/api/v1/plans/{plan['id']}", json={"planned_spend": "1", "version": 1},
                       headers=fin)
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    listed = client.get("/api/v1/plans?month=2024-02-01", headers=as_role("viewer")).json()
    assert listed["count"] == 1
    assert client.delete(f"/api/v1/plans/{plan['id']}?version=2", headers=fin).status_code == 204
    actions = [e.action for e in db.exec(select(AuditEvent).where(AuditEvent.entity_type == "plan")
                                         .order_by(AuditEvent.id))]
    assert actions == ["plan.create", "plan.update", "plan.delete"]
    upd = db.exec(select(AuditEvent).where(AuditEvent.action == "plan.update")).one()
    assert Decimal(upd.before["planned_spend"]) == Decimal("2900.5")
    assert Decimal(upd.after["planned_spend"]) == Decimal("3000")


def test_plan_input_errors_are_422(client: TestClient, as_role: Headers, db: Session) -> None:
    fin = as_role("finance")
    db.commit()
    cases = [
        {"month": "2024-02-02", "scope": "total", "planned_spend": "1"},
        {"month": "2024-02-01", "scope": "total", "scope_key": "x", "planned_spend": "1"},
        {"month": "2024-02-01", "scope": "account", "scope_key": "meta:nope", "planned_spend": "1"},
        {"month": "2024-02-01", "scope": "total", "planned_spend": "-1"},
        {"month": "2024-02-01", "scope": "total", "planned_spend": "1", "currency": "USD"},
    ]
    for body in cases:
        r = client.post("/api/v1/plans", json=body, headers=fin)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_caps_crud(client: TestClient, as_role: Headers, db: Session) -> None:
    create_account(db, network="meta", external_id="act_1")
    db.commit()
    mgr = as_role("manager")
    r = client.post("/api/v1/caps", json={"scope": "account", "scope_key": "meta:act_1",
                                          "max_daily": "500", "min_daily": "50"}, headers=mgr)
    assert r.status_code == 201, r.text
    cap = r.json()
    bad = client.put(f"/api/v1/caps/{cap['id']}", json={"version": 1, "min_daily": "9",
                                                         "max_daily": "5"}, headers=mgr)
    assert bad.status_code == 422
    ok = client.put(f"/api/v1/caps/{cap['id']}", json={"version": 1, "max_daily": "600",
                                                        "locked": True}, headers=mgr)
    assert ok.status_code == 200 and ok.json()["locked"] is True and ok.json()["version"] == 2
    assert client.post("/api/v1/caps", json={"scope": "network", "scope_key": "meta"},
                       headers=as_role("finance")).status_code == 403


def test_unknown_scope_keys_are_refused_naming_the_valid_ones(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    """A cap or plan on a network or account the portfolio lacks would silently never apply."""
    create_account(db, network="meta", external_id="act_1")
    create_account(db, network="google", external_id="123-456")
    db.commit()
    mgr, fin = as_role("manager"), as_role("finance")
    for scope, key, valid in (("network", "Meta", "google, meta"),
                              ("network", "snapchat", "google, meta"),
                              ("account", "meta:act_9", "google:123-456, meta:act_1")):
        r = client.post("/api/v1/caps", json={"scope": scope, "scope_key": key,
                                              "max_daily": "100"}, headers=mgr)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert key in r.json()["detail"] and valid in r.json()["detail"]
        r = client.post("/api/v1/plans", json={"month": "2026-12-01", "scope": scope,
                                               "scope_key": key, "planned_spend": "1000"},
                        headers=fin)
        assert r.status_code == 422 and valid in r.json()["detail"], r.text
    assert client.get("/api/v1/caps", headers=mgr).json()["count"] == 0
    ok = client.post("/api/v1/caps", json={"scope": "network", "scope_key": "meta",
                                           "max_daily": "100"}, headers=mgr)
    assert ok.status_code == 201, ok.text


def test_optimising_on_stale_history_is_a_422_saying_what_to_do(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    import datetime as dt

    from tests.campaigns.optimization.test_proposals_service import _portfolio

    _portfolio(db, last_day=dt.date(2026, 4, 30))
    db.commit()
    r = client.post("/api/v1/optimizations", headers=as_role("service"),
                    json={"portfolio": "default"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "2026-04-30" in r.json()["detail"] and "--as-of" in r.json()["detail"]
