from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from campaigns.admin.auth import hash_token
from campaigns.models import ApiToken, AuditEvent


def test_missing_token_is_401_problem(client: TestClient) -> None:
    r = client.get("/api/v1/campaigns")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"] == "Bearer"
    assert "bearer" in r.json()["detail"].lower()


def test_unknown_and_revoked_tokens_are_401(
    client: TestClient, as_role: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    me = client.get("/api/v1/me", headers=as_role("viewer"))
    assert me.json() == {"name": "viewer", "role": "viewer", "portfolios": None,
                         "actions": ["read", "read_finance"]}
    listed = client.get("/api/v1/tokens", headers=as_role("admin")).json()["data"]
    viewer_id = next(t["id"] for t in listed if t["name"] == "viewer")
    r = client.delete(f"/api/v1/tokens/{viewer_id}", headers=as_role("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.get("/api/v1/me", headers=as_role("viewer")).status_code == 401


def test_token_is_stored_hashed_and_shown_once(
    client: TestClient, as_role: Callable[[str], dict[str, str]], db: Session
) -> None:
    r = client.post("/api/v1/tokens", json={"name": "ci", "role": "service"},
                    headers=as_role("admin"))
    assert r.status_code == 201
    secret = r.json()["token"]
    row = db.exec(select(ApiToken).where(ApiToken.name == "ci")).one()
    assert row.token_hash == hash_token(secret) and secret not in row.token_hash
    assert "token" not in client.get("/api/v1/tokens", headers=as_role("admin")).json()["data"][0]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert {k: me[k] for k in ("name", "role", "portfolios")} == {
        "name": "ci", "role": "service", "portfolios": None}
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "token.create")).all()
    assert any(e.after and e.after["name"] == "ci" for e in events)


def test_bad_role_is_422(client: TestClient, as_role: Callable[[str], dict[str, str]]) -> None:
    r = client.post("/api/v1/tokens", json={"name": "x", "role": "root"},
                    headers=as_role("admin"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
