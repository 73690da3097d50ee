"""The shift lifecycle over HTTP: approve (all / some), reject, apply, 409s, expiry."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.auth import Principal, Role
from campaigns.errors import ConflictError
from campaigns.models import AuditEvent, BudgetShift, Campaign, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from connectors.base import ConnectorError
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def app(engine: Engine, platform: FakePlatform) -> FastAPI:
    from api.app import create_app
    from campaigns.config import settings_from_dict
    from tests.api.conftest import SETTINGS

    return create_app(settings_from_dict(SETTINGS), engine,
                      applier=shifts.writeback_applier(connectors=lambda account: platform))


def _shift(db: Session, *, new: list[str], created_by: str = "nightly",
           expires_at: dt.datetime | None = None, platform: FakePlatform | None = None
           ) -> BudgetShift:
    account = create_account(db)
    camps = [create_campaign(db, account=account, daily_budget="100", external_id=f"c{i}")
             for i in range(len(new))]
    if platform is not None:
        platform.budgets.update({c.external_id: Decimal(100) for c in camps})
    shift = create_shift(db, campaigns=camps, new_budgets=new, created_by=created_by,
                         expires_at=expires_at)
    db.commit()
    return shift


def test_approve_then_apply(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift = _shift(db, new=["120", "80"], platform=platform)
    r = client.get(f"/api/v1/shifts/{shift.id}", headers=as_role("viewer"))
    assert r.status_code == 200 and r.json()["change_fraction"] == pytest.approx(0.2)
    assert [i["reason"] for i in r.json()["items"]] == ["test", "test"]
    r = client.post(f"/api/v1/shifts/{shift.id}/approve", json={"version": 1, "comment": "ok"},
                    headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["decided_by"] == "manager"
    again = client.post(f"/api/v1/shifts/{shift.id}/approve", json={"version": 2},
                        headers=as_role("manager"))
    assert again.status_code == 409
    r = client.post(f"/api/v1/shifts/{shift.id}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"
    assert {i["status"] for i in r.json()["items"]} == {"applied"}
    actions = [e.action for e in db.exec(select(AuditEvent).where(
        AuditEvent.entity_type == "shift").order_by(AuditEvent.id))]
    assert actions == ["shift.approve", "shift.applying", "shift.applied"]


def test_partial_approval_and_partial_apply(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift = _shift(db, new=["110", "90", "105"], platform=platform)
    items = client.get(f"/api/v1/shifts/{shift.id}", headers=as_role("viewer")).json()["items"]
    r = client.post(f"/api/v1/shifts/{shift.id}/approve",
                    json={"version": 1, "item_ids": [items[0]["id"], items[2]["id"]]},
                    headers=as_role("manager"))
    assert [i["status"] for i in r.json()["items"]] == ["approved", "rejected", "approved"]
    platform.fail_writes["c2"] = ConnectorError("platform said no", kind="invalid")
    r = client.post(f"/api/v1/shifts/{shift.id}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.json()["status"] == "partially_applied"
    assert [i["status"] for i in r.json()["items"]] == ["applied", "rejected", "failed"]
    bad = client.post(f"/api/v1/shifts/{shift.id}/approve",
                      json={"version": 4, "item_ids": [999999]}, headers=as_role("manager"))
    assert bad.status_code == 409  # no longer proposed


def test_unknown_items_and_reject(client: TestClient, as_role: Headers, db: Session) -> None:
    shift = _shift(db, new=["110"])
    r = client.post(f"/api/v1/shifts/{shift.id}/approve",
                    json={"version": 1, "item_ids": [123456]}, headers=as_role("manager"))
    assert r.status_code == 422
    r = client.post(f"/api/v1/shifts/{shift.id}/reject", json={"version": 1, "comment": "no"},
                    headers=as_role("admin"))
    assert r.json()["status"] == "rejected" and r.json()["comment"] == "no"
    r = client.post(f"/api/v1/shifts/{shift.id}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.status_code == 409


def test_proposer_cannot_approve_own_large_shift(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    big = _shift(db, new=["150", "50"], created_by="manager")  # moves 50%
    r = client.post(f"/api/v1/shifts/{big.id}/approve", json={"version": 1},
                    headers=as_role("manager"))
    assert r.status_code == 403 and "another manager" in r.json()["detail"]
    assert client.post(f"/api/v1/shifts/{big.id}/approve", json={"version": 1},
                       headers=as_role("admin")).status_code == 200
    small = _shift(db, new=["105", "95"], created_by="manager")  # moves 5%
    assert client.post(f"/api/v1/shifts/{small.id}/approve", json={"version": 1},
                       headers=as_role("manager")).status_code == 200


def test_expiry_by_time_and_by_changed_data(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    old = _shift(db, new=["110"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    r = client.post(f"/api/v1/shifts/{old.id}/approve", json={"version": 1},
                    headers=as_role("manager"))
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    got = client.get(f"/api/v1/shifts/{old.id}", headers=as_role("viewer")).json()
    assert got["status"] == "expired"  # the expiry is kept although the request failed
    changed = _shift(db, new=["110"])
    item = db.exec(select(ShiftItem).where(ShiftItem.shift_id == changed.id)).one()
    campaign = db.get(Campaign, item.campaign_id)
    assert campaign is not None
    campaign.daily_budget = Decimal("130")  # a sync brought a new budget
    db.commit()
    r = client.post(f"/api/v1/shifts/{changed.id}/approve", json={"version": 1},
                    headers=as_role("manager"))
    assert r.status_code == 409 and "130" in r.json()["detail"]
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "shift.expire")).all()


def test_expiring_without_loading_items_moves_and_records_as_expire(db: Session) -> None:
    """A superseded proposal is expired from its items' ids alone: its pending items are
    skipped, a decided one keeps its status, and the audit event reads as `expire`'s."""
    def expired(how: Callable[[BudgetShift], object]) -> tuple[list[str], dict, dict]:
        shift = _shift(db, new=["110", "90", "120"])
        items = db.exec(select(ShiftItem).where(ShiftItem.shift_id == shift.id)
                        .order_by(ShiftItem.id)).all()
        items[1].status = "rejected"  # decided on the row before the expiry
        db.flush()
        how(shift)
        db.commit()
        statuses = [i for (i,) in db.execute(select(ShiftItem.status).where(
            ShiftItem.shift_id == shift.id).order_by(ShiftItem.id))]
        event = db.exec(select(AuditEvent).where(AuditEvent.entity_id == str(shift.id))
                        .where(AuditEvent.action == "shift.expire")).one()
        ids = {str(i.id): f"item{n}" for n, i in enumerate(items)}

        def named(state: dict | None) -> dict:  # the shifts' own ids differ
            assert state is not None
            return {**state, "items": {ids[k]: v for k, v in state["items"].items()}}

        assert items[0].status == "skipped"  # a loaded item shows the move
        return statuses, named(event.before), named(event.after)

    loaded = expired(lambda s: shifts.expire(db, shifts.get_shift(db, s.id or 0),
                                             reason="superseded", actor="cli"))
    unloaded = expired(lambda s: shifts.expire_unloaded(db, s.id or 0, reason="superseded",
                                                        actor="cli"))
    assert unloaded == loaded
    assert loaded[0] == ["skipped", "rejected", "skipped"]
    assert loaded[2]["status"] == "expired" and loaded[2]["reason"] == "superseded"


def test_concurrent_approvals_one_wins(engine: Engine, db: Session) -> None:
    """Two managers read version 1; the database lets exactly one of them approve."""
    shift = _shift(db, new=["110", "90"])
    assert shift.id is not None
    policy = ShiftPolicy()
    a = Principal("alice", Role.manager)
    b = Principal("bob", Role.manager)
    with Session(engine) as s1, Session(engine) as s2:
        shifts.get_shift(s1, shift.id)
        shifts.get_shift(s2, shift.id)
        shifts.approve(s1, shift.id, version=1, user=a, policy=policy)
        s1.commit()
        with pytest.raises(ConflictError):  # 409: stale version or no longer proposed
            shifts.approve(s2, shift.id, version=1, user=b, policy=policy)
        s2.rollback()


def test_concurrent_http_approvals(client: TestClient, as_role: Headers, db: Session) -> None:
    shift = _shift(db, new=["110", "90"])
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def go() -> None:
        barrier.wait()
        r = client.post(f"/api/v1/shifts/{shift.id}/approve", json={"version": 1},
                        headers=as_role("manager"))
        codes.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409]
    final = client.get(f"/api/v1/shifts/{shift.id}", headers=as_role("viewer")).json()
    assert final["status"] == "approved" and final["version"] == 2


def _approved(client: TestClient, as_role: Headers, db: Session, platform: FakePlatform,
              new: list[str]) -> int:
    shift = _shift(db, new=new, platform=platform)
    r = client.post(f"/api/v1/shifts/{shift.id}/approve", json={"version": 1},
                    headers=as_role("admin"))
    assert r.status_code == 200, r.text
    assert shift.id is not None
    return shift.id


def test_a_partially_applied_shift_is_applied_again(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift_id = _approved(client, as_role, db, platform, ["110", "90", "105"])
    platform.fail_writes["c1"] = ConnectorError("CONCURRENT_MODIFICATION", kind="transient")
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", json={"version": 2},
                    headers=as_role("manager"))
    assert r.json()["status"] == "partially_applied"
    failed = r.json()["items"][1]
    assert failed["status"] == "failed" and failed["next_attempt_at"] is not None
    del platform.fail_writes["c1"]
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", json={"version": r.json()["version"]},
                    headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"
    assert [(o["target"], o["outcome"]) for o in r.json()["outcomes"]] == [
        ("campaign:c1", "applied")]
    assert dict(platform.writes) == {"c0": 1, "c1": 1, "c2": 1}


def test_dry_run_over_http(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift_id = _approved(client, as_role, db, platform, ["110", "90"])
    r = client.post(f"/api/v1/shifts/{shift_id}/apply?dry_run=true", json={"version": 2},
                    headers=as_role("service"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["status"] == "approved" and body["version"] == 2
    assert [o["outcome"] for o in body["outcomes"]] == ["would_apply", "would_apply"]
    assert [o["platform_budget"] for o in body["outcomes"]] == ["100", "100"]
    assert platform.total_writes() == 0
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.json()["status"] == "applied" and platform.total_writes() == 2


def test_rollback_proposes_the_inverse_shift(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift_id = _approved(client, as_role, db, platform, ["120", "80"])
    r = client.post(f"/api/v1/shifts/{shift_id}/rollback", json={}, headers=as_role("manager"))
    assert r.status_code == 409 and "approved" in r.json()["detail"]  # not applied yet
    platform.fail_writes["c1"] = ConnectorError("invalid budget", kind="invalid")
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.json()["status"] == "partially_applied"
    r = client.post(f"/api/v1/shifts/{shift_id}/rollback", json={"reason": "bad day"},
                    headers=as_role("manager"))
    assert r.status_code == 201, r.text
    back = r.json()
    assert (back["status"], back["rollback_of"], back["created_by"]) == (
        "proposed", shift_id, "manager")
    # Only the applied item goes back.
    assert [(i["target_external_id"], i["old_budget"], i["new_budget"])
            for i in back["items"]] == [("c0", "120.000000", "100.000000")]
    original = client.get(f"/api/v1/shifts/{shift_id}", headers=as_role("viewer")).json()
    assert original["rolled_back_by"] == [back["id"]]
    again = client.post(f"/api/v1/shifts/{shift_id}/rollback", json={},
                        headers=as_role("admin"))
    assert again.status_code == 409 and f"shift {back['id']}" in again.json()["detail"]
    # Its proposer may not approve it alone: it moves 20 / 120 of the budget.
    r = client.post(f"/api/v1/shifts/{back['id']}/approve", json={"version": 1},
                    headers=as_role("manager"))
    assert r.status_code == 403
    r = client.post(f"/api/v1/shifts/{back['id']}/approve", json={"version": 1},
                    headers=as_role("admin"))
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/shifts/{back['id']}/apply", json={"version": 2},
                    headers=as_role("service"))
    assert r.json()["status"] == "applied"
    assert platform.budgets["c0"] == Decimal(100)
    actions = {e.action for e in db.exec(select(AuditEvent))}
    assert {"shift.rollback_proposed", "shift.rollback_requested"} <= actions


def test_a_rollback_after_a_partial_approval_states_the_portfolio_totals(
    client: TestClient, as_role: Headers, db: Session, platform: FakePlatform
) -> None:
    shift = _shift(db, new=["115", "90", "105"], platform=platform)
    items = [i.id for i in db.exec(select(ShiftItem).where(ShiftItem.shift_id == shift.id)
                                   .order_by(ShiftItem.id))]
    r = client.post(f"/api/v1/shifts/{shift.id}/approve", headers=as_role("admin"),
                    json={"version": 1, "item_ids": [items[0]]})
    assert Decimal(r.json()["approved_total"]) == Decimal("315.00")
    client.post(f"/api/v1/shifts/{shift.id}/apply", json={"version": 2},
                headers=as_role("service"))
    back = client.post(f"/api/v1/shifts/{shift.id}/rollback", json={},
                       headers=as_role("manager")).json()
    # the portfolio holds 315 now (one item moved +15); undoing it returns to 300
    assert (Decimal(back["total_before"]), Decimal(back["total_after"])) == (
        Decimal(315), Decimal(300))
