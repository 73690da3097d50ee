"""The nightly job and apply by file: an item of an imported TikTok account is never sent to
a platform (the run says it waits for an export, and does not fail for it), the retry query
leaves it alone, and once exported the nightly run's sync step settles it when the data
shows its budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.auth import Principal, Role
from campaigns.db import session_scope
from campaigns.ingest.store import set_names_and_budgets
from campaigns.jobs.nightly import run_nightly
from campaigns.models import AdAccount, Campaign, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.applying import _due_shifts
from campaigns.shifts.delivery import Delivery
from campaigns.shifts.exporting import export
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.sandbox import platform_budgets, sandbox_settings, sync_sandbox

OLGA = Principal("olga", Role.manager)


def test_the_nightly_run_never_writes_an_item_that_goes_by_file(
    engine: Engine, tmp_path: Path
) -> None:
    settings = sandbox_settings(tmp_path, scheduler={"auto_approve": False})
    delivery = Delivery.of(settings)
    sync_sandbox(engine, settings)
    with session_scope(engine) as db:
        sandbox = db.exec(select(Campaign).join(AdAccount).where(
            AdAccount.source == "sandbox", AdAccount.currency == "EUR")
            .order_by(Campaign.id)).first()
        assert sandbox is not None and sandbox.daily_budget is not None
        tiktok = create_account(db, network="tiktok", external_id="7012345678901234567")
        tiktok.source = "csv"  # imported: no write connector
        db.add(tiktok)
        imported = create_campaign(db, account=tiktok, daily_budget="100", external_id="t1")
        new_sandbox = sandbox.daily_budget + Decimal(1)
        shift = create_shift(db, campaigns=[imported, sandbox],
                             new_budgets=["110.5", str(new_sandbox)])
        assert shift.id is not None
        shift_id, sandbox_ext = shift.id, sandbox.external_id
        shifts.approve(db, shift_id, version=shift.version, user=OLGA,
                       policy=ShiftPolicy(auto_approve_max_change=1))

    report = run_nightly(engine, settings, force=True)
    assert report.ok, report.lines()
    [outcome] = report.portfolios
    assert any(f"shift {shift_id}: items" in h and "tiktok go by file" in h
               for h in outcome.held), outcome.held
    with Session(engine) as db:
        items = {i.target_external_id: i for i in db.exec(
            select(ShiftItem).where(ShiftItem.shift_id == shift_id))}
        assert items["t1"].status == "approved" and items["t1"].attempts == 0
        assert items[sandbox_ext].status == "applied"
        assert shifts.get_shift(db, shift_id).shift.status == "partially_applied"
    assert platform_budgets(settings)[sandbox_ext] == new_sandbox

    # The retry query would take the shift (an approved item) but for its delivery.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert [s for s, _ in _due_shifts(engine, "default", later)] == [shift_id]
    assert _due_shifts(engine, "default", later, delivery) == []

    with session_scope(engine) as db:
        exported = export(db, shift_id, user=OLGA, delivery=delivery)
        assert exported.view.shift.status == "exported"
        # The platform's next report shows the budget: the next nightly sync settles it.
        set_names_and_budgets(db, {imported.id: ("t1", Decimal("110.50"))})  # type: ignore[dict-item]
    again = run_nightly(engine, settings, force=True)
    assert again.ok, again.lines()
    with Session(engine) as db:
        view = shifts.get_shift(db, shift_id)
        assert view.shift.status == "applied"
        first = view.items[0]  # the TikTok item
        assert (first.status, first.applied_budget) == ("applied", Decimal("110.5"))
