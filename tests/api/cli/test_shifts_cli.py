"""`budgetpilot shifts ...`: the lifecycle from a terminal, as ops work without curl."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli.main import EXIT_PARTIAL, EXIT_REJECTED, EXIT_USAGE
from campaigns.models import AuditEvent, BudgetShift, ShiftItem
from campaigns.shifts import writeback
from connectors.base import ConnectorError
from tests.api.cli.conftest import group_runner
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform

runner = CliRunner()


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    fake = FakePlatform()
    monkeypatch.setattr(writeback, "configured_connectors",
                        lambda settings=None: lambda account: fake)
    return fake


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return group_runner(db_url, tmp_path, monkeypatch, "shifts",
                        "[service]\nauto_approve_max_change = 0.1\n")


def _shift(engine: Engine, platform: FakePlatform, new: list[str], *, prefix: str,
           created_by: str = "maria") -> tuple[int, list[int]]:
    with Session(engine, expire_on_commit=False) as db:
        account = create_account(db)
        camps = [create_campaign(db, account=account, daily_budget="100",
                                 external_id=f"{prefix}{i}") for i in range(len(new))]
        shift = create_shift(db, campaigns=camps, new_budgets=new, created_by=created_by)
        db.commit()
        items = db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                        .order_by(ShiftItem.id)).all()
    platform.budgets.update({c.external_id: Decimal(100) for c in camps})
    assert shift.id is not None
    return shift.id, [i for i in items if i is not None]


def test_the_shift_lifecycle_from_the_command_line(
    engine: Engine, platform: FakePlatform, cli
) -> None:
    shift_id, items = _shift(engine, platform, ["150", "50", "120"], prefix="c")
    sid = str(shift_id)

    listed = cli("list", "--status", "proposed", "--json")
    assert listed.exit_code == 0, listed.output
    assert [s["id"] for s in json.loads(listed.output)["data"]] == [shift_id]
    assert "proposed" in cli("list").output

    own = cli("approve", sid, "--as", "maria")  # she proposed it and it moves 40%
    assert own.exit_code == EXIT_REJECTED and "another manager" in own.output

    ok = cli("approve", sid, "--as", "olga", "--item", str(items[0]), "--item", str(items[1]),
             "--comment", "fine")
    assert ok.exit_code == 0, ok.output
    assert "approved" in ok.output and "decided by olga" in ok.output

    dry = cli("apply", sid, "--dry-run", "--as", "olga")
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("would apply") == 2 and platform.total_writes() == 0
    assert json.loads(cli("show", sid, "--json").output)["status"] == "approved"

    platform.fail_writes["c1"] = ConnectorError("CONCURRENT_MODIFICATION", kind="transient")
    partial = cli("apply", sid, "--as", "olga")
    assert partial.exit_code == EXIT_PARTIAL, partial.output
    assert "partially_applied" in partial.output and "CONCURRENT_MODIFICATION" in partial.output
    del platform.fail_writes["c1"]
    again = cli("apply", sid, "--as", "olga", "--json")
    assert again.exit_code == 0, again.output
    body = json.loads(again.output)
    assert body["status"] == "applied"
    assert [o["target"] for o in body["outcomes"]] == ["campaign:c1"]  # only the failed one
    assert dict(platform.writes) == {"c0": 1, "c1": 1}

    back = cli("rollback", sid, "--as", "olga", "--reason", "too much", "--json")
    assert back.exit_code == 0, back.output
    rollback = json.loads(back.output)
    assert rollback["rollback_of"] == shift_id and rollback["status"] == "proposed"
    assert [(i["old_budget"], i["new_budget"]) for i in rollback["items"]] == [
        ("150.000000", "100.000000"), ("50.000000", "100.000000")]
    twice = cli("rollback", sid)
    assert twice.exit_code == EXIT_REJECTED and "already has a rollback" in twice.output
    assert f"rolled back by shift {rollback['id']}" in cli("show", sid).output

    with Session(engine) as s:
        actors = {(e.actor, e.action) for e in s.exec(select(AuditEvent))}
        assert {("olga", "shift.approve"), ("olga", "shift.apply_dry_run"),
                ("olga", "shift.applied"), ("olga", "shift.rollback_proposed")} <= actors


def test_reject_stale_versions_and_unknown_shifts(
    engine: Engine, platform: FakePlatform, cli
) -> None:
    shift_id, _ = _shift(engine, platform, ["105"], prefix="r")
    stale = cli("reject", str(shift_id), "--expect-version", "7", "--as", "olga")
    assert stale.exit_code == EXIT_REJECTED and "version" in stale.output
    rejected = cli("reject", str(shift_id), "--comment", "not now", "--as", "olga")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    late = cli("approve", str(shift_id), "--as", "olga")
    assert late.exit_code == EXIT_REJECTED and "rejected" in late.output
    assert cli("apply", str(shift_id)).exit_code == EXIT_REJECTED
    assert cli("rollback", str(shift_id)).exit_code == EXIT_REJECTED
    assert cli("show", "999999").exit_code == EXIT_USAGE
    assert cli("list", "--status", "nonsense").exit_code == EXIT_USAGE
    with Session(engine) as s:
        shift = s.get(BudgetShift, shift_id)
        assert shift is not None and shift.status == "rejected" and shift.comment == "not now"


def test_a_stale_proposal_expires_instead_of_being_approved(
    engine: Engine, platform: FakePlatform, cli
) -> None:
    import datetime as dt

    with Session(engine, expire_on_commit=False) as db:
        account = create_account(db)
        camp = create_campaign(db, account=account, daily_budget="100", external_id="x0")
        shift = create_shift(db, campaigns=[camp], new_budgets=["105"],
                             expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        db.commit()
    late = cli("approve", str(shift.id), "--as", "olga")
    assert late.exit_code == EXIT_REJECTED and "expired" in late.output
    with Session(engine) as s:
        row = s.get(BudgetShift, shift.id)
        assert row is not None and row.status == "expired"  # kept, as the API keeps it


def test_show_names_items_and_approve_keeps_item_comments(
    engine: Engine, platform: FakePlatform, cli  # type: ignore[no-untyped-def]
) -> None:
    shift_id, items = _shift(engine, platform, ["105", "95"], prefix="nm", created_by="nightly")
    shown = cli("show", str(shift_id))
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if line.lstrip().startswith(str(items[0])))
    assert "meta" in row and "Account" in row and "Campaign" in row
    bad = cli("approve", str(shift_id), "--as", "maria", "--item-comment", "oops")
    assert bad.exit_code == EXIT_USAGE and "ITEM_ID=comment" in bad.output
    done = cli("approve", str(shift_id), "--as", "maria", "--item", str(items[0]),
               "--item-comment", f"{items[0]}=best ROAS", "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["items"][0]["comment"] == "best ROAS" and body["items"][1]["comment"] is None
    assert Decimal(body["approved_total"]) == Decimal("205.00")
    assert body["items"][0]["campaign_name"] == "Campaign"
