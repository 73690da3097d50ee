"""Names beside ids (shift items, pacing, alerts), a comment per item, and the daily total
a partial approval leaves (items not approved keep their budgets)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from campaigns.models import Alert, AuditEvent, ShiftItem
from campaigns.shifts.lifecycle import approved_total
from tests.api.factories import (
    add_metrics,
    create_account,
    create_adset,
    create_campaign,
    create_plan,
    create_shift,
)

Auth = Callable[[str], dict[str, str]]


def _seed(db: Session) -> tuple[int, list[int]]:
    account = create_account(db, external_id="act_77", name="Nordics Retail")
    camps = [create_campaign(db, account=account, daily_budget="100", external_id=f"n{i}",
                             name=f"Winter sale {i}") for i in range(3)]
    shift = create_shift(db, campaigns=camps, new_budgets=["130", "80", "90"])
    db.commit()
    items = db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                    .order_by(ShiftItem.id)).all()
    assert shift.id is not None
    return shift.id, [i for i in items if i is not None]


def test_items_carry_their_names(client: TestClient, db: Session, as_role: Auth) -> None:
    shift_id, _ = _seed(db)
    body = client.get(f"/api/v1/shifts/{shift_id}", headers=as_role("viewer")).json()
    first = body["items"][0]
    assert (first["network"], first["account_external_id"], first["account_name"],
            first["campaign_external_id"], first["campaign_name"], first["adset_name"]) == (
        "meta", "act_77", "Nordics Retail", "n0", "Winter sale 0", None)
    assert first["target_external_id"] == "n0" and body["approved_total"] is None


def test_adset_items_name_their_adset(client: TestClient, db: Session, as_role: Auth) -> None:
    account = create_account(db)
    camp = create_campaign(db, account=account, name="Spring")
    adset = create_adset(db, campaign=camp)
    adset.name = "Lookalike 2%"
    shift = create_shift(db, campaigns=[camp], new_budgets=["110"])
    item = db.exec(select(ShiftItem).where(ShiftItem.shift_id == shift.id)).one()
    item.adset_id, item.level, item.target_external_id = adset.id, "adset", adset.external_id
    db.commit()
    body = client.get(f"/api/v1/shifts/{shift.id}", headers=as_role("viewer")).json()
    assert (body["items"][0]["campaign_name"], body["items"][0]["adset_name"]) == (
        "Spring", "Lookalike 2%")


def test_partial_approval_keeps_item_comments_and_says_the_new_total(
    client: TestClient, db: Session, as_role: Auth
) -> None:
    shift_id, items = _seed(db)
    body = client.post(f"/api/v1/shifts/{shift_id}/approve", headers=as_role("manager"), json={
        "version": 1, "item_ids": [items[0]], "comment": "only the winner",
        "item_comments": {str(items[0]): "strong ROAS", str(items[2]): "wait a week"},
    })
    assert body.status_code == 200, body.text
    shift = body.json()
    by_id = {i["id"]: i for i in shift["items"]}
    assert [by_id[i]["status"] for i in items] == ["approved", "rejected", "rejected"]
    assert [by_id[i]["comment"] for i in items] == ["strong ROAS", None, "wait a week"]
    # 300 before; only +30 is approved, the others keep 100 each
    assert Decimal(shift["approved_total"]) == Decimal("330.00")
    # The history lists it with the same total, not the whole proposal's.
    [listed] = client.get("/api/v1/shifts", headers=as_role("viewer")).json()["data"]
    assert Decimal(listed["approved_total"]) == Decimal("330.00")
    assert Decimal(listed["total_after"]) != Decimal("330.00")
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "shift.approve")).one()
    assert event.after["item_comments"] == {str(items[0]): "strong ROAS",
                                            str(items[2]): "wait a week"}


def test_comments_on_items_of_another_shift_are_refused(
    client: TestClient, db: Session, as_role: Auth
) -> None:
    shift_id, items = _seed(db)
    bad = client.post(f"/api/v1/shifts/{shift_id}/reject", headers=as_role("manager"),
                      json={"version": 1, "item_comments": {"999999": "?"}})
    assert bad.status_code == 422 and "999999" in bad.json()["detail"]
    long = client.post(f"/api/v1/shifts/{shift_id}/approve", headers=as_role("manager"),
                       json={"version": 1, "item_comments": {str(items[0]): "x" * 2001}})
    assert long.status_code == 422
    still = client.get(f"/api/v1/shifts/{shift_id}", headers=as_role("viewer")).json()
    assert still["status"] == "proposed" and all(i["comment"] is None for i in still["items"])


def test_reject_keeps_item_comments(client: TestClient, db: Session, as_role: Auth) -> None:
    shift_id, items = _seed(db)
    body = client.post(f"/api/v1/shifts/{shift_id}/reject", headers=as_role("manager"),
                       json={"version": 1, "item_comments": {str(items[1]): "too deep"}}).json()
    assert body["status"] == "rejected" and body["items"][1]["comment"] == "too deep"
    assert Decimal(body["approved_total"]) == Decimal("300.00")


def test_pacing_and_alerts_name_their_scope(client: TestClient, db: Session,
                                            as_role: Auth) -> None:
    account = create_account(db, external_id="act_5", name="DACH Brand")
    camp = create_campaign(db, account=account, external_id="c5", name="Always on")
    today = dt.date(2026, 3, 16)
    add_metrics(db, campaign=camp, start=today.replace(day=1), spends=["50"] * 15)
    create_plan(db, month=today.replace(day=1), planned="900", scope="account",
                scope_key="meta:act_5")
    create_plan(db, month=today.replace(day=1), planned="700", scope="campaign",
                scope_key="meta:act_5:c5")
    db.add(Alert(kind="pacing", severity="warning", scope="account", scope_key="meta:act_5",
                 condition_key="t:1", message="over"))
    db.commit()
    report = client.get("/api/v1/pacing", params={"as_of": "2026-03-15"},
                        headers=as_role("viewer")).json()
    names = {(r["scope"], r["scope_key"]): r["scope_name"] for r in report["data"]}
    assert names[("account", "meta:act_5")] == "DACH Brand"
    assert names[("campaign", "meta:act_5:c5")] == "Always on"
    assert names[("network", "meta")] == "meta" and names[("total", "")] == "total"
    alerts = client.get("/api/v1/alerts", headers=as_role("viewer")).json()["data"]
    assert [a["scope_name"] for a in alerts] == ["DACH Brand"]


money = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)


@given(st.lists(st.tuples(money, money, st.sampled_from(["approved", "rejected", "applied",
                                                         "failed", "skipped"])),
                min_size=1, max_size=12))
def test_approved_total_moves_only_what_was_approved(
    rows: list[tuple[Decimal, Decimal, str]]
) -> None:
    items = [ShiftItem(shift_id=1, campaign_id=1, target_external_id="x", currency="EUR",
                       old_budget=o, new_budget=n, status=s) for o, n, s in rows]
    before = sum((o for o, _, _ in rows), Decimal(0))
    total = approved_total(before, items, {"EUR": Decimal(1)})
    kept = sum((o for o, _, s in rows if s in ("rejected", "skipped")), Decimal(0))
    moved = sum((n for _, n, s in rows if s not in ("rejected", "skipped")), Decimal(0))
    assert total == kept + moved
    everything = [ShiftItem(shift_id=1, campaign_id=1, target_external_id="x", currency="EUR",
                            old_budget=o, new_budget=n, status="approved") for o, n, _ in rows]
    assert approved_total(before, everything, {"EUR": Decimal(1)}) == sum(
        (n for _, n, _ in rows), Decimal(0))


def test_me_lists_the_actions_of_the_role(client: TestClient, as_role: Auth) -> None:
    from campaigns.admin.auth import PERMISSIONS, Role

    for role in Role:
        me = client.get("/api/v1/me", headers=as_role(role.value)).json()
        assert set(me["actions"]) == {a.value for a, roles in PERMISSIONS.items() if role in roles}
    viewer = client.get("/api/v1/me", headers=as_role("viewer")).json()["actions"]
    assert "decide_shifts" not in viewer and "apply_shifts" not in viewer and "read" in viewer
