"""The kill switch under tokens limited to portfolios: a brand pauses its own automation,
never every brand's, and does not learn what other brands paused."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.api.factories import create_account, get_portfolio

Headers = Callable[[str], dict[str, str]]


def _scoped_manager(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    r = client.post("/api/v1/tokens", headers=admin,
                    json={"name": "brand-a", "role": "manager", "portfolios": ["A"]})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_brand_token_pauses_only_its_own_automation(
    client: TestClient, as_role: Headers, db: Session,
) -> None:
    a, b = get_portfolio(db, "A"), get_portfolio(db, "B")
    create_account(db, portfolio=a, external_id="act_a")
    create_account(db, portfolio=b, external_id="act_b")
    db.commit()
    admin = as_role("admin")
    brand_a = _scoped_manager(client, admin)
    why = {"reason": "launch week"}

    everything = client.post("/api/v1/automation/pause", headers=brand_a, json=why)
    assert everything.status_code == 403, everything.text
    assert "limited to portfolios" in everything.json()["detail"]
    other = client.post("/api/v1/automation/pause", headers=brand_a,
                        json={**why, "portfolio": "B"})
    assert other.status_code == 404, other.text  # B is not there for this token
    other_account = client.post("/api/v1/automation/pause", headers=brand_a,
                                json={**why, "account": "act_b"})
    assert other_account.status_code == 404, other_account.text
    own = client.post("/api/v1/automation/pause", headers=brand_a, json={**why, "portfolio": "A"})
    assert own.status_code == 200, own.text

    # The admin pauses B; brand A's view of the switch does not show it, the admin's does.
    assert client.post("/api/v1/automation/pause", headers=admin,
                       json={**why, "portfolio": "B"}).status_code == 200
    seen_by_a = client.get("/api/v1/automation", headers=brand_a).json()
    assert [(p["scope"], p["scope_key"]) for p in seen_by_a["pauses"]] == [("portfolio", "A")]
    seen_by_admin = client.get("/api/v1/automation", headers=admin).json()
    assert {p["scope_key"] for p in seen_by_admin["pauses"]} == {"A", "B"}
    assert client.post("/api/v1/automation/resume", headers=brand_a,
                       json={**why, "portfolio": "B"}).status_code == 404
