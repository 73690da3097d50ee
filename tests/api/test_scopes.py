"""``GET /scopes``: the networks, accounts and campaigns of a portfolio with their names, the
only keys the plan, cap and lock pickers offer; each is one the plan and cap endpoints accept."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.api.factories import create_account, create_campaign, get_portfolio

Headers = Callable[[str], dict[str, str]]


def test_scopes_list_every_key_with_its_name_and_nothing_of_other_portfolios(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    nordics = create_account(db, network="meta", external_id="act_9", name="Nordics Retail")
    search = create_account(db, network="google", external_id="123-456", name="Search DE")
    create_campaign(db, account=nordics, external_id="c2", name="Winter sale")
    create_campaign(db, account=nordics, external_id="c1", name="Brand search")
    create_campaign(db, account=search, external_id="77", name="Generic", status="paused")
    other = create_account(db, external_id="act_5", name="Other brand",
                           portfolio=get_portfolio(db, "other"))
    create_campaign(db, account=other, external_id="c9", name="Not ours")
    db.commit()
    r = client.get("/api/v1/scopes?portfolio=default", headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["portfolio"] == "default" and body["reporting_currency"] == "EUR"
    got = [(s["scope"], s["key"], s["name"]) for s in body["data"]]
    assert got == [
        ("network", "google", "google"), ("network", "meta", "meta"),
        ("account", "google:123-456", "Search DE"), ("account", "meta:act_9", "Nordics Retail"),
        ("campaign", "google:123-456:77", "Generic"),
        ("campaign", "meta:act_9:c1", "Brand search"), ("campaign", "meta:act_9:c2", "Winter sale"),
    ]
    assert body["count"] == 7
    winter = body["data"][-1]
    assert (winter["account_key"], winter["account_name"], winter["network"]) == (
        "meta:act_9", "Nordics Retail", "meta")
    assert body["data"][4]["status"] == "paused"
    only = client.get("/api/v1/scopes?scope=account", headers=as_role("viewer")).json()
    assert [s["key"] for s in only["data"]] == ["google:123-456", "meta:act_9"]
    # every key offered is one a plan and a cap accept
    for i, s in enumerate(body["data"]):
        plan = client.post("/api/v1/plans", headers=as_role("finance"), json={
            "month": f"2026-{i + 1:02d}-01", "scope": s["scope"], "scope_key": s["key"],
            "planned_spend": "100.00"})
        assert plan.status_code == 201, (s, plan.text)
        cap = client.post("/api/v1/caps", headers=as_role("manager"), json={
            "scope": s["scope"], "scope_key": s["key"], "max_daily": "50.00"})
        assert cap.status_code == 201, (s, cap.text)


def test_scopes_of_an_unknown_portfolio_or_scope_are_refused(
    client: TestClient, as_role: Headers
) -> None:
    r = client.get("/api/v1/scopes?portfolio=nope", headers=as_role("viewer"))
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert client.get("/api/v1/scopes?scope=total", headers=as_role("viewer")).status_code == 422
    assert client.get("/api/v1/scopes").status_code == 401
