"""What the plans page and the pacing board rely on: the alerts list follows the chosen
portfolio (with the alerts of no portfolio) and the token's portfolios; deleting a plan or a cap is audited, refused with its
reason (the role allowed, the version it is at) and a 404 for what is not there — or is
another portfolio's, to a token limited to its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from campaigns.admin.auth import create_token
from campaigns.models import Alert, AuditEvent, SpendCap
from tests.api.factories import create_account, create_plan, get_portfolio

Headers = Callable[[str], dict[str, str]]


def _two_brands(db: Session) -> dict[str, int]:
    """An alert, a plan and a cap in ``default`` and in ``nordics``."""
    ids: dict[str, int] = {}
    for name in ("default", "nordics"):
        portfolio = get_portfolio(db, name)
        account = create_account(db, portfolio=portfolio, external_id=f"act_{name}")
        alert = Alert(kind="pacing_over", scope="account", scope_key=f"meta:{account.external_id}",
                      condition_key=f"t:{name}", portfolio_id=portfolio.id,
                      message=f"{name} is over plan")
        cap = SpendCap(portfolio_id=portfolio.id, scope="account",
                       scope_key=f"meta:{account.external_id}", locked=True)
        db.add_all([alert, cap])
        plan = create_plan(db, month=dt.date(2026, 3, 1), planned="900", portfolio=portfolio)
        db.flush()
        assert alert.id and cap.id and plan.id
        ids |= {f"alert_{name}": alert.id, f"cap_{name}": cap.id, f"plan_{name}": plan.id}
    db.commit()
    return ids


def _bearer(db: Session, role: str, portfolios: list[str]) -> dict[str, str]:
    _, secret = create_token(db, name=f"{role}-nordics", role=role, actor="test",
                             portfolios=portfolios)
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_alerts_follow_the_chosen_portfolio_and_the_tokens(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    ids = _two_brands(db)
    nobodys = Alert(kind="sync_failed", condition_key="t:none", message="an unassigned account")
    db.add(nobodys)
    db.commit()

    def listed(headers: dict[str, str], query: str = "") -> list[int]:
        r = client.get(f"/api/v1/alerts?acknowledged=false{query}", headers=headers)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["data"]]

    viewer = as_role("viewer")
    assert set(listed(viewer)) == {ids["alert_default"], ids["alert_nordics"], nobodys.id}
    # a portfolio's alerts, and those of no portfolio (they concern every one)
    assert listed(viewer, "&portfolio=nordics") == [nobodys.id, ids["alert_nordics"]]
    assert listed(viewer, "&portfolio=default") == [nobodys.id, ids["alert_default"]]
    missing = client.get("/api/v1/alerts?portfolio=nope", headers=viewer)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]

    scoped = _bearer(db, "viewer", ["nordics"])
    assert listed(scoped) == [ids["alert_nordics"]]  # never one of no portfolio
    assert listed(scoped, "&portfolio=nordics") == [ids["alert_nordics"]]
    # another brand's portfolio is not there for this token: the same 404 as an unknown name
    assert client.get("/api/v1/alerts?portfolio=default", headers=scoped).status_code == 404


def test_deleting_plans_and_caps_is_audited_and_refused_with_reasons(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    ids = _two_brands(db)
    plan, cap = ids["plan_default"], ids["cap_default"]

    for role, path in (("viewer", f"plans/{plan}"), ("manager", f"plans/{plan}"),
                       ("viewer", f"caps/{cap}"), ("finance", f"caps/{cap}")):
        r = client.delete(f"/api/v1/{path}", headers=as_role(role))
        assert r.status_code == 403, (role, path, r.text)
        assert f"role '{role}' may not edit" in r.json()["detail"], r.json()
    stale = client.delete(f"/api/v1/caps/{cap}?version=7", headers=as_role("manager"))
    assert stale.status_code == 409 and "at version 1, not 7" in stale.json()["detail"]

    # a token limited to nordics finds default's cap nowhere (404, not 403), and deletes its own
    scoped = _bearer(db, "manager", ["nordics"])
    other = client.delete(f"/api/v1/caps/{cap}", headers=scoped)
    assert other.status_code == 404 and other.json()["detail"] == f"no cap with id {cap}"
    assert client.delete(f"/api/v1/caps/{ids['cap_nordics']}", headers=scoped).status_code == 204
    db.expire_all()
    assert db.get(SpendCap, ids["cap_nordics"]) is None and db.get(SpendCap, cap) is not None

    assert client.delete(f"/api/v1/plans/{plan}?version=1",
                         headers=as_role("finance")).status_code == 204
    assert client.delete(f"/api/v1/caps/{cap}?version=1",
                         headers=as_role("manager")).status_code == 204
    for path in (f"plans/{plan}", f"caps/{cap}"):
        gone = client.delete(f"/api/v1/{path}", headers=as_role("admin"))
        assert gone.status_code == 404, gone.text
        assert gone.json()["detail"] == f"no {path.split('/')[0][:-1]} with id {path.split('/')[1]}"
    events = {(e.action, e.actor, e.entity_id) for e in db.exec(
        select(AuditEvent).where(AuditEvent.action.in_(["plan.delete", "cap.delete"])))}  # type: ignore[attr-defined]
    assert events == {("plan.delete", "finance", str(plan)), ("cap.delete", "manager", str(cap)),
                      ("cap.delete", "manager-nordics", str(ids["cap_nordics"]))}

