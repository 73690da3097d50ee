"""Apply by file from the command line: a TikTok account (imported from its export) has no
write connector, so its approved items are exported as a file, and settle when a later
import shows the new budgets or a manager confirms them; a Meta item in the same shift goes
through its connector."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.cli.main import EXIT_PARTIAL, EXIT_REJECTED
from campaigns.models import AdAccount, AuditEvent, Campaign, ShiftItem
from campaigns.shifts import writeback
from tests.api.cli.conftest import group_runner
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform

CONFIG = ('[service]\nauto_approve_max_change = 0.1\n\n'
          '[[sources]]\nname = "sandbox"\nkind = "sandbox"\n')
TIKTOK_HEADER = ("By Day,Advertiser ID,Campaign name,Campaign ID,Currency,Cost,Impressions,"
                 "Clicks (destination),Conversions,Total complete payment value,Campaign budget")
ADVERTISER = "7012345678901234567"


def tiktok_export(path: Path, day: str, budgets: dict[str, str]) -> Path:
    """A TikTok Ads Manager campaign-by-day export (its own titles and number forms)."""
    rows = [f'{day},{ADVERTISER},Campaign {cid[-1]},{cid},EUR,"1,204.50","120,400",'
            f'"2,410",31,"3,980.10",{budget}' for cid, budget in budgets.items()]
    path.write_text("\n".join([TIKTOK_HEADER, *rows, "Total of 2 results,,,,,,,,,,"]) + "\n")
    return path


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    fake = FakePlatform()
    monkeypatch.setattr(writeback, "configured_connectors",
                        lambda settings=None: lambda account: fake)
    return fake


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return group_runner(db_url, tmp_path, monkeypatch, "shifts", CONFIG)


@pytest.fixture
def importer(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return group_runner(db_url, tmp_path, monkeypatch, "import-csv", CONFIG)


def _mixed_shift(engine: Engine, platform: FakePlatform, importer, tmp_path: Path  # type: ignore[no-untyped-def]
                 ) -> tuple[str, list[int]]:
    """Two TikTok campaigns (imported at 1500 and 800 EUR) and one Meta campaign (100 EUR,
    synced from the sandbox source): a shift to 1650.5, 700 and 120."""
    first = importer(str(tiktok_export(tmp_path / "day1.csv", "2026-03-01", {
        "1790000000000001": "1500", "1790000000000002": "800"})))
    assert first.exit_code == 0, first.output
    with Session(engine, expire_on_commit=False) as db:
        tiktok = [db.exec(select(Campaign).where(Campaign.external_id == ext)).one()
                  for ext in ("1790000000000001", "1790000000000002")]
        meta = create_account(db, network="meta")
        meta.source = "sandbox"
        db.add(meta)
        camp = create_campaign(db, account=meta, daily_budget="100", external_id="m1")
        shift = create_shift(db, campaigns=[*tiktok, camp], new_budgets=["1650.5", "700", "120"],
                             created_by="maria")
        db.commit()
        items = list(db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                             .order_by(ShiftItem.id)).all())
        account = db.exec(select(AdAccount).where(AdAccount.network == "tiktok")).one()
        assert account.source == "csv"  # an imported account: no write connector
    platform.budgets["m1"] = Decimal(100)
    return str(shift.id), [i for i in items if i is not None]


def _status(engine: Engine, item_id: int) -> tuple[str, Decimal | None, str | None]:
    with Session(engine) as s:
        item = s.get(ShiftItem, item_id)
        assert item is not None
        return item.status, item.applied_budget, item.confirmed_by


def _events(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _approved(cli, sid: str, items: list[int]) -> Result:  # type: ignore[no-untyped-def]
    """The first TikTok item and the Meta item approved; the second TikTok item rejected."""
    ok = cli("approve", sid, "--as", "olga", "--item", str(items[0]), "--item", str(items[2]))
    assert ok.exit_code == 0, ok.output
    return ok


def test_export_then_an_import_showing_the_budget_applies_the_item(
    engine: Engine, platform: FakePlatform, cli, importer, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sid, items = _mixed_shift(engine, platform, importer, tmp_path)
    _approved(cli, sid, items)
    assert f"to export: items {items[0]} (tiktok" in cli("show", sid).output

    applied = cli("apply", sid, "--as", "olga")
    # The Meta item went through its connector; the TikTok one was left to the file.
    assert applied.exit_code == EXIT_PARTIAL, applied.output
    assert platform.budgets["m1"] == Decimal(120) and dict(platform.writes) == {"m1": 1}
    assert f"item {items[0]} campaign:1790000000000001: 1,650.50: by file" in applied.output
    assert _status(engine, items[0])[0] == "approved"

    out = tmp_path / "upload.csv"
    exported = cli("export", sid, "--out", str(out), "--as", "olga")
    assert exported.exit_code == 0, exported.output
    assert out.read_text().splitlines() == [
        "Advertiser ID,Campaign ID,Campaign name,Currency,Campaign budget",
        f"{ADVERTISER},1790000000000001,Campaign 1,EUR,1650.50",
    ]  # the rejected TikTok item is not in it
    body = json.loads(cli("show", sid, "--json").output)
    assert body["status"] == "exported" and body["awaiting_confirmation"] == [items[0]]
    assert [i["status"] for i in body["items"]] == ["exported", "rejected", "applied"]
    assert "awaiting confirmation: items" in cli("show", sid).output

    again = cli("export", sid, "--out", str(tmp_path / "again.csv"), "--as", "olga")
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert (tmp_path / "again.csv").read_bytes() == out.read_bytes()
    assert len(_events(engine, "shift.export")) == 1
    refused = cli("apply", sid, "--as", "olga")  # nothing of it goes to a platform again
    assert refused.exit_code == EXIT_REJECTED and dict(platform.writes) == {"m1": 1}

    # The platform's next export still shows the old budget (not uploaded yet): nothing moves.
    old = importer(str(tiktok_export(tmp_path / "day2.csv", "2026-03-02", {
        "1790000000000001": "1500", "1790000000000002": "800"})))
    assert old.exit_code == 0 and "settled" not in old.output
    assert _status(engine, items[0])[0] == "exported"
    seen = importer(str(tiktok_export(tmp_path / "day3.csv", "2026-03-03", {
        "1790000000000001": "\"1,650.50\"", "1790000000000002": "800"})))
    assert seen.exit_code == 0, seen.output
    assert f"settled exported shift items {items[0]}" in seen.output
    assert _status(engine, items[0]) == ("applied", Decimal("1650.5"), None)
    assert json.loads(cli("show", sid, "--json").output)["status"] == "applied"
    twice = importer(str(tmp_path / "day3.csv"))
    assert twice.exit_code == 0 and "settled" not in twice.output
    assert len([e for e in _events(engine, "shift_item.applied")
                if e.entity_id == str(items[0])]) == 1


def test_a_manager_confirms_an_exported_item_once(
    engine: Engine, platform: FakePlatform, cli, importer, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sid, items = _mixed_shift(engine, platform, importer, tmp_path)
    _approved(cli, sid, items)
    unexported = cli("confirm", sid, "--items", str(items[0]), "--as", "olga")
    assert unexported.exit_code == EXIT_REJECTED and "not exported" in unexported.output
    assert cli("export", sid, "--network", "meta", "--out", str(tmp_path)).exit_code == \
        EXIT_REJECTED  # Meta has its connector
    assert cli("export", sid, "--out", str(tmp_path), "--as", "olga").exit_code == 0
    assert (tmp_path / f"shift-{sid}-tiktok.csv").exists()
    # The Meta item still applies through its connector; the shift then awaits confirmation.
    applied = cli("apply", sid, "--as", "olga")
    assert applied.exit_code == 0, applied.output
    assert platform.budgets["m1"] == Decimal(120)
    assert "awaiting confirmation" in applied.output
    assert json.loads(cli("show", sid, "--json").output)["status"] == "exported"
    back = cli("rollback", sid, "--as", "olga")
    assert back.exit_code == EXIT_REJECTED and "not yet seen on the platform" in back.output

    done = cli("confirm", sid, "--items", str(items[0]), "--as", "olga")
    assert done.exit_code == 0, done.output
    assert f"confirmed items {items[0]}" in done.output
    assert f"item {items[0]} confirmed by olga" in done.output
    assert _status(engine, items[0]) == ("confirmed", Decimal("1650.5"), "olga")
    twice = cli("confirm", sid, "--as", "ivan")
    assert twice.exit_code == 0 and "already settled, nothing written" in twice.output
    assert _status(engine, items[0])[2] == "olga"
    assert len(_events(engine, "shift_item.confirmed")) == 1
    with Session(engine) as s:  # our rows hold the confirmed budget, as after an apply
        camp = s.exec(select(Campaign).where(Campaign.external_id == "1790000000000001")).one()
        assert camp.daily_budget == Decimal("1650.5")
    assert json.loads(cli("show", sid, "--json").output)["status"] == "applied"
    rollback = json.loads(cli("rollback", sid, "--as", "olga", "--json").output)
    assert [(i["old_budget"], i["new_budget"]) for i in rollback["items"]] == [
        ("1650.500000", "1500.000000"), ("120.000000", "100.000000")]
