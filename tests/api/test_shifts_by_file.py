"""Apply by file through the API: a shift's TikTok items (an imported account, no write
connector) are downloaded as TikTok's file and marked exported; they settle when a later
import shows the new budgets, or when a manager confirms them. A viewer can do neither."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.models import Campaign, ShiftItem
from campaigns.shifts import lifecycle as shifts
from tests.api.cli.conftest import group_runner
from tests.api.cli.test_apply_by_file_cli import ADVERTISER, tiktok_export
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform

Headers = Callable[[str], dict[str, str]]
T1, T2 = "1790000000000001", "1790000000000002"


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform({"m1": Decimal(100)})


@pytest.fixture
def app(engine: Engine, platform: FakePlatform) -> FastAPI:
    from api.app import create_app
    from campaigns.config import settings_from_dict
    from tests.api.conftest import SETTINGS

    return create_app(settings_from_dict(SETTINGS), engine,
                      applier=shifts.writeback_applier(connectors=lambda account: platform))


@pytest.fixture
def importer(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return group_runner(db_url, tmp_path, monkeypatch, "import-csv")


def _shift(engine: Engine, importer, tmp_path: Path, new: list[str]) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """Two imported TikTok campaigns (1500 and 800 EUR) and a Meta one (100 EUR)."""
    done = importer(str(tiktok_export(tmp_path / "day1.csv", "2026-03-01",
                                      {T1: "1500", T2: "800"})))
    assert done.exit_code == 0, done.output
    with Session(engine, expire_on_commit=False) as db:
        tiktok = [db.exec(select(Campaign).where(Campaign.external_id == e)).one()
                  for e in (T1, T2)]
        meta = create_campaign(db, account=create_account(db), daily_budget="100",
                               external_id="m1")
        shift = create_shift(db, campaigns=[*tiktok, meta], new_budgets=new)
        db.commit()
        items = db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                        .order_by(ShiftItem.id)).all()
    assert shift.id is not None
    return shift.id, [i for i in items if i is not None]


def _approve(client: TestClient, as_role: Headers, shift_id: int, items: list[int]) -> None:
    r = client.post(f"/api/v1/shifts/{shift_id}/approve", headers=as_role("manager"),
                    json={"version": 1, "item_ids": [items[0], items[2]]})
    assert r.status_code == 200, r.text


def test_export_download_then_an_import_applies_it(
    client: TestClient, as_role: Headers, engine: Engine, platform: FakePlatform, importer,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    shift_id, items = _shift(engine, importer, tmp_path, ["1650.5", "700", "120"])
    _approve(client, as_role, shift_id, items)
    url = f"/api/v1/shifts/{shift_id}"
    assert client.post(f"{url}/export", json={}, headers=as_role("viewer")).status_code == 403

    applied = client.post(f"{url}/apply", json={"version": 2}, headers=as_role("manager"))
    assert applied.status_code == 200, applied.text
    assert {o["item_id"]: o["outcome"] for o in applied.json()["outcomes"]} == {
        items[0]: "by_file", items[2]: "applied"}
    assert platform.budgets["m1"] == Decimal(120) and set(platform.writes) == {"m1"}

    r = client.post(f"{url}/export", json={"network": "tiktok"}, headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="shift-{shift_id}-tiktok.csv"' in r.headers["content-disposition"]
    assert r.text.splitlines() == [
        "Advertiser ID,Campaign ID,Campaign name,Currency,Campaign budget",
        f"{ADVERTISER},{T1},Campaign 1,EUR,1650.50"]  # the unapproved item is not in it
    again = client.post(f"{url}/export", json={}, headers=as_role("service"))
    assert again.status_code == 200 and again.content == r.content
    meta = client.post(f"{url}/export", json={"network": "meta"}, headers=as_role("manager"))
    assert meta.status_code == 409 and "applied by its connector" in meta.json()["detail"]

    body = client.get(url, headers=as_role("viewer")).json()
    assert body["status"] == "exported" and body["awaiting_confirmation"] == [items[0]]
    assert body["items"][0]["exported_at"] is not None

    seen = importer(str(tiktok_export(tmp_path / "day2.csv", "2026-03-02",
                                      {T1: "1650.50", T2: "800"})))
    assert seen.exit_code == 0, seen.output
    body = client.get(url, headers=as_role("viewer")).json()
    assert body["status"] == "applied" and body["awaiting_confirmation"] == []
    assert (body["items"][0]["status"], Decimal(body["items"][0]["applied_budget"])) == (
        "applied", Decimal("1650.5"))
    assert body["items"][0]["confirmed_by"] is None


def test_confirm_records_who_and_settles_once(
    client: TestClient, as_role: Headers, engine: Engine, importer, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    shift_id, items = _shift(engine, importer, tmp_path, ["1650.5", "700", "120"])
    _approve(client, as_role, shift_id, items)
    url = f"/api/v1/shifts/{shift_id}"
    early = client.post(f"{url}/confirm", json={"item_ids": [items[0]]},
                        headers=as_role("manager"))
    assert early.status_code == 409 and "not exported" in early.json()["detail"]
    assert client.post(f"{url}/export", json={}, headers=as_role("manager")).status_code == 200
    denied = client.post(f"{url}/confirm", json={}, headers=as_role("viewer"))
    assert denied.status_code == 403
    assert client.get(url, headers=as_role("viewer")).json()["items"][0]["status"] == "exported"

    r = client.post(f"{url}/confirm", json={"item_ids": [items[0]]}, headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] == [items[0]] and r.json()["already"] == []
    item = r.json()["items"][0]
    assert (item["status"], item["confirmed_by"], Decimal(item["applied_budget"])) == (
        "confirmed", "manager", Decimal("1650.5"))
    twice = client.post(f"{url}/confirm", json={}, headers=as_role("admin"))
    assert twice.status_code == 200
    assert twice.json()["confirmed"] == [] and twice.json()["already"] == [items[0]]
    assert twice.json()["items"][0]["confirmed_by"] == "manager"
    # The Meta item is still approved: the shift waits for its apply.
    assert twice.json()["status"] == "approved"
    unknown = client.post(f"{url}/confirm", json={"item_ids": [999999]},
                          headers=as_role("manager"))
    assert unknown.status_code == 422
