"""The role matrix: every endpoint x every role, against campaigns.admin.auth.PERMISSIONS."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import API_PREFIX, api_routes, route_action
from campaigns.admin.auth import PERMISSIONS, Action, Role, create_token
from campaigns.models import Alert, OptimizationRun, SpendCap
from tests.api.factories import (
    add_metrics,
    create_account,
    create_adset,
    create_campaign,
    create_plan,
    create_shift,
    create_sync_run,
    get_portfolio,
)

Headers = Callable[[str], dict[str, str]]


def _endpoints(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for path, route in api_routes(app):
        if path.startswith(API_PREFIX):
            for method in sorted(route.methods):
                out.append((method, re.sub(r"\{[^}]+\}", "1", path), route))
    return out


def test_every_endpoint_states_its_roles(app: FastAPI) -> None:
    endpoints = _endpoints(app)
    assert len(endpoints) > 30
    missing = [f"{m} {p}" for m, p, r in endpoints if route_action(r) is None]
    assert missing == []
    schema = app.openapi()
    for path, item in schema["paths"].items():
        if path.startswith(API_PREFIX):
            for op in item.values():
                assert op["x-roles"] and "Roles:" in op["description"]


def test_role_matrix(app: FastAPI, client: TestClient, as_role: Headers) -> None:
    seen: dict[Action, set[Role]] = {}
    for method, path, route in _endpoints(app):
        action = route_action(route)
        assert action is not None
        body = {} if method in ("POST", "PUT") else None
        anonymous = client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        for role in Role:
            if method == "DELETE" and path.startswith(f"{API_PREFIX}/tokens"):
                continue  # revoking token 1 would log a role out for the rest of the test
            r = client.request(method, path, json=body, headers=as_role(role.value))
            allowed = role in PERMISSIONS[action]
            if allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
                assert r.status_code < 500 or r.status_code == 503, (method, path, r.text)
                seen.setdefault(action, set()).add(role)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert r.headers["content-type"].startswith("application/problem+json")
    assert set(seen) == set(PERMISSIONS)


# --- the portfolio axis -------------------------------------------------------------------------
# Two brands, A and B. A token limited to A acts on A as its role allows; B's rows do not exist
# for it (404 for a direct id, absent from lists: a 403 would confirm B's ids). A global token
# reaches both. A role that may not do something gets 403 whatever the portfolio.

D = dt.date


@dataclass
class Brand:
    name: str
    ids: dict[str, Any]


def _brand(db: Session, name: str) -> Brand:
    p = get_portfolio(db, name)
    acc = create_account(db, portfolio=p, external_id=f"act_{name}")
    camp = create_campaign(db, account=acc, external_id=f"c_{name}")
    adset = create_adset(db, campaign=camp)
    add_metrics(db, campaign=camp, start=D(2024, 1, 1), spends=["10"] * 5)
    recent = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
    add_metrics(db, campaign=camp, start=recent, spends=["10", "12", "9", "11"] * 7)
    plan = create_plan(db, month=D(2024, 1, 1), planned="300", portfolio=p)
    cap = SpendCap(portfolio_id=p.id, scope="account", scope_key=f"meta:act_{name}",  # type: ignore[arg-type]
                   max_daily=Decimal("50"))
    run = OptimizationRun(portfolio_id=p.id, objective="conversions", currency="EUR",  # type: ignore[arg-type]
                          total_budget=Decimal("100"))
    alert = Alert(kind="shift_waiting", condition_key=f"test:{name}", portfolio_id=p.id,
                  message=f"brand {name}")
    db.add_all([cap, run, alert])
    shift = create_shift(db, campaigns=[camp], new_budgets=["110"], portfolio=p)
    sync = create_sync_run(db, account=acc)
    db.flush()
    return Brand(name, {"portfolio": p.id, "account": acc.id, "campaign": camp.id,
                        "adset": adset.id, "plan": plan.id, "cap": cap.id, "run": run.id,
                        "alert": alert.id, "shift": shift.id, "sync": sync.id})


def _operations(b: Brand) -> list[tuple[Action, str, str, dict[str, Any] | None]]:
    i, v = b.ids, API_PREFIX
    month = "start_month=2024-01-01&end_month=2024-01-01"
    return [
        (Action.read, "GET", f"{v}/accounts/{i['account']}", None),
        (Action.read, "GET", f"{v}/campaigns/{i['campaign']}", None),
        (Action.read, "GET", f"{v}/adsets/{i['adset']}", None),
        (Action.read, "GET", f"{v}/plans/{i['plan']}", None),
        (Action.read, "GET", f"{v}/caps/{i['cap']}", None),
        (Action.read, "GET", f"{v}/shifts/{i['shift']}", None),
        (Action.read, "GET", f"{v}/alerts/{i['alert']}", None),
        (Action.read, "GET", f"{v}/optimizations/{i['run']}", None),
        (Action.read, "GET", f"{v}/pacing?portfolio={b.name}&as_of=2024-01-05", None),
        (Action.read_finance, "GET", f"{v}/finance/spend-vs-plan?portfolio={b.name}&{month}",
         None),
        (Action.read_finance, "GET",
         f"{v}/finance/spend-vs-plan?portfolio={b.name}&{month}&format=csv", None),
        (Action.edit_plans, "POST", f"{v}/plans", {
            "portfolio": b.name, "month": "2024-02-01", "scope": "total",
            "planned_spend": "100"}),
        (Action.edit_plans, "PUT", f"{v}/plans/{i['plan']}", {"planned_spend": "310",
                                                              "version": 1}),
        (Action.edit_caps, "POST", f"{v}/caps", {"portfolio": b.name, "scope": "network",
                                                 "scope_key": "meta", "max_daily": "80"}),
        (Action.edit_caps, "PUT", f"{v}/caps/{i['cap']}", {"max_daily": "60", "version": 1}),
        (Action.run_optimization, "POST", f"{v}/optimizations", {"portfolio": b.name}),
        (Action.acknowledge_alerts, "POST", f"{v}/alerts/{i['alert']}/acknowledge", None),
        (Action.apply_shifts, "POST", f"{v}/shifts/{i['shift']}/apply", {"version": 1}),
        (Action.decide_shifts, "POST", f"{v}/shifts/{i['shift']}/reject", {"version": 1}),
        (Action.decide_shifts, "POST", f"{v}/shifts/{i['shift']}/approve", {"version": 2}),
    ]


def _lists(b: Brand) -> dict[str, tuple[str, str]]:
    """List endpoint → (the id field, the brand's id it must show)."""
    return {"portfolios": ("id", "portfolio"), "accounts": ("id", "account"),
            "campaigns": ("id", "campaign"), "adsets": ("id", "adset"), "plans": ("id", "plan"),
            "caps": ("id", "cap"), "shifts": ("id", "shift"), "alerts": ("id", "alert"),
            "optimizations": ("id", "run"), "sync-runs": ("id", "sync")}


def test_role_matrix_by_portfolio(client: TestClient, as_role: Headers, db: Session,
                                  engine: Engine) -> None:
    a, b = _brand(db, "A"), _brand(db, "B")
    db.commit()
    scoped: dict[Role, dict[str, str]] = {}
    with Session(engine) as s:
        for role in Role:
            if role is not Role.admin:
                _, secret = create_token(s, name=f"{role.value}-A", role=role.value,
                                         actor="test", portfolios=["A"])
                scoped[role] = {"Authorization": f"Bearer {secret}"}
        s.commit()
    matrix: dict[tuple[str, str, str], int] = {}
    for brand in (b, a):  # the other brand first: refusals must leave it untouched
        for action, method, path, body in _operations(brand):
            for role in Role:
                callers = [("global", as_role(role.value))]
                if role in scoped:
                    callers.insert(0, ("A-token", scoped[role]))
                for who, headers in callers:
                    r = client.request(method, path, json=body, headers=headers)
                    own = who == "global" or brand is a
                    label = (f"{method} {path.split('?')[0]}", role.value,
                             f"{who} on {brand.name}")
                    matrix[label] = r.status_code
                    if role not in PERMISSIONS[action]:
                        assert r.status_code == 403, (label, r.text)
                    elif own:
                        assert r.status_code not in (401, 403, 404), (label, r.text)
                        assert r.status_code < 500, (label, r.text)
                    else:
                        assert r.status_code == 404, (label, r.status_code, r.text)
    assert len(matrix) > 300
    # what all portfolios share, or a run across all of them, takes a global token
    for action, method, path, body in [
        (Action.edit_fx, "POST", f"{API_PREFIX}/fx-rates", {"rates": [
            {"date": "2024-01-01", "currency": "USD", "quote": "EUR", "rate": "0.9"}]}),
        (Action.evaluate_alerts, "POST", f"{API_PREFIX}/alerts/evaluate?as_of=2024-01-05", None),
    ]:
        for role in PERMISSIONS[action] - {Role.admin}:
            r = client.request(method, path, json=body, headers=scoped[role])
            assert r.status_code == 403 and "global token" in r.json()["detail"], (path, role)
            r = client.request(method, path, json=body, headers=as_role(role.value))
            assert r.status_code == 200, (path, role, r.text)

    # lists: the A token sees A's rows and no others; a global token sees both
    for path, (field, key) in _lists(a).items():
        for role in (Role.viewer, Role.manager):
            body = client.get(f"{API_PREFIX}/{path}", headers=scoped[role]).json()
            data = body["data"]
            assert body["count"] == len(data), (path, body["count"])  # counts leak nothing
            ids = {x[field] for x in data}
            assert a.ids[key] in ids and b.ids[key] not in ids, (path, role, data)
            assert all(x.get("portfolio_id", a.ids["portfolio"]) == a.ids["portfolio"]
                       for x in data), (path, role, data)
        everything = client.get(f"{API_PREFIX}/{path}", headers=as_role("viewer")).json()
        assert {a.ids[key], b.ids[key]} <= {x[field] for x in everything["data"]}, path
    series = client.get(f"{API_PREFIX}/metrics?start=2024-01-01&end=2024-01-31",
                        headers=scoped[Role.viewer]).json()["data"]
    assert sum(Decimal(p["spend"]) for p in series) == Decimal("50")  # A's only, not 100
    audit = client.get(f"{API_PREFIX}/audit?limit=500", headers=scoped[Role.finance]).json()
    plans = {e["entity_id"] for e in audit["data"] if e["entity_type"] == "plan"}
    assert str(a.ids["plan"]) in plans and str(b.ids["plan"]) not in plans
    assert client.get(f"{API_PREFIX}/me", headers=scoped[Role.manager]).json()["portfolios"] == [
        "A"]


def test_kept_answers_are_not_served_across_portfolios(
    client: TestClient, as_role: Headers, db: Session, engine: Engine,
) -> None:
    a, b = _brand(db, "A"), _brand(db, "B")
    db.commit()
    with Session(engine) as s:
        _, secret = create_token(s, name="viewer-A", role="viewer", actor="test",
                                 portfolios=["A"])
        s.commit()
    limited = {"Authorization": f"Bearer {secret}"}
    pacing_b = f"{API_PREFIX}/pacing?portfolio=B&as_of=2024-01-05"
    for _ in range(3):  # kept by a global caller, then asked for by the limited one
        assert client.get(f"{API_PREFIX}/shifts", headers=as_role("viewer")).status_code == 200
        assert client.get(pacing_b, headers=as_role("viewer")).status_code == 200
        shown = client.get(f"{API_PREFIX}/shifts", headers=limited).json()["data"]
        assert [x["id"] for x in shown] == [a.ids["shift"]]
        assert client.get(pacing_b, headers=limited).status_code == 404
    everyone = client.get(f"{API_PREFIX}/shifts", headers=as_role("viewer")).json()["data"]
    assert {a.ids["shift"], b.ids["shift"]} <= {x["id"] for x in everyone}
