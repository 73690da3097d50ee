"""campaigns.shifts.writeback against the real SDKs and fakes: once per item, across failures."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.models import (
    AdAccount,
    AuditEvent,
    BudgetShift,
    Campaign,
    Portfolio,
    ShiftItem,
)
from campaigns.shifts.writeback import apply_items

D = Decimal


def _shift(
    engine: Engine,
    network: str,
    account_ext: str,
    currency: str,
    moves: list[tuple[str, str, str, str, str]],
) -> int:
    """moves: (campaign ext id, level, target ext id, old, new)."""
    with Session(engine) as s:
        portfolio = Portfolio(name="default")
        s.add(portfolio)
        s.flush()
        account = AdAccount(
            portfolio_id=portfolio.id,
            network=network,
            external_id=account_ext,
            currency=currency,
            source="test",
        )
        s.add(account)
        s.flush()
        shift = BudgetShift(portfolio_id=portfolio.id, status="applying", currency=currency)
        s.add(shift)
        s.flush()
        campaigns: dict[str, Campaign] = {}
        for ext, level, target, old, _ in moves:
            if ext not in campaigns:
                campaigns[ext] = Campaign(
                    account_id=account.id,
                    network=network,
                    external_id=ext,
                    budget_level=level,
                    budget_external_id=target,
                    daily_budget=D(old),
                )
                s.add(campaigns[ext])
        s.flush()
        for ext, level, target, old, new in moves:
            s.add(
                ShiftItem(
                    shift_id=shift.id,
                    campaign_id=campaigns[ext].id,
                    level=level,
                    target_external_id=target,
                    currency=currency,
                    old_budget=D(old),
                    new_budget=D(new),
                    status="approved",
                )
            )
        s.commit()
        assert shift.id is not None
        return shift.id


def _items(engine: Engine, shift_id: int) -> list[ShiftItem]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(ShiftItem).where(ShiftItem.shift_id == shift_id).order_by(ShiftItem.id)
            )
        )


def test_half_failed_shift_is_retried_without_applying_twice(engine, graph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    for i in range(1, 5):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
    shift_id = _shift(
        engine,
        "meta",
        "act_1",
        "EUR",
        [(f"c{i}", "campaign", f"c{i}", "100", f"{100 + i}.5") for i in range(1, 5)],
    )
    meta = make_meta()
    st.fail(
        "/c3",
        method="POST",
        code=100,
        subcode=1885272,
        status=400,
        message="Invalid parameter",
        times=1,
    )

    report = apply_items(engine, shift_id, lambda account: meta, actor="tester")
    assert (report.applied, report.failed, report.status) == (3, 1, "partially_applied")
    items = _items(engine, shift_id)
    assert [i.status for i in items] == ["applied", "applied", "failed", "applied"]
    assert items[0].applied_budget == D("101.5") and items[2].error.startswith("[invalid]")
    assert [p for p, _ in st.budget_posts] == ["c1", "c2", "c4"]

    again = apply_items(engine, shift_id, lambda account: meta, actor="tester")
    assert (again.applied, again.failed, again.status) == (1, 0, "applied")
    assert [p for p, _ in st.budget_posts] == ["c1", "c2", "c4", "c3"]  # nothing twice
    with Session(engine) as s:
        budgets = dict(s.execute(select(Campaign.external_id, Campaign.daily_budget)).all())
        assert budgets["c3"] == D("103.5")
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("shift_item.applied") == 4 and actions.count("shift_item.failed") == 1


def test_crash_after_the_platform_call_does_not_write_again(sqlite_engine, graph, make_meta):
    st = graph.state
    st.add_account("act_1", currency="JPY")
    st.add_campaign("act_1", "c1", daily_budget=6000)  # the write happened before the crash
    shift_id = _shift(
        sqlite_engine, "meta", "act_1", "JPY", [("c1", "campaign", "c1", "5000", "6000")]
    )
    with Session(sqlite_engine) as s:
        item = s.scalars(select(ShiftItem)).one()
        item.status, item.attempts = "applying", 1
        s.add(item)
        s.commit()
    meta = make_meta()
    report = apply_items(sqlite_engine, shift_id, lambda account: meta)
    assert (report.applied, report.already, report.status) == (0, 1, "applied")
    assert st.budget_posts == []
    item = _items(sqlite_engine, shift_id)[0]
    assert item.status == "applied" and item.applied_budget == D(6000) and item.attempts == 2


def test_auth_failure_stops_the_account(sqlite_engine, graph, make_meta) -> None:
    graph.state.add_account("act_1")
    for i in range(1, 4):
        graph.state.add_campaign("act_1", f"c{i}", daily_budget=1000)
    shift_id = _shift(
        sqlite_engine,
        "meta",
        "act_1",
        "EUR",
        [(f"c{i}", "campaign", f"c{i}", "10", "12") for i in range(1, 4)],
    )
    meta = make_meta(access_token="revoked")
    report = apply_items(sqlite_engine, shift_id, lambda account: meta)
    assert (report.failed, report.not_attempted, report.status) == (1, 2, "failed")
    assert [i.status for i in _items(sqlite_engine, shift_id)] == ["failed", "approved", "approved"]
    assert graph.state.total_requests() == 1


def test_dry_run_changes_nothing(sqlite_engine, graph, make_meta) -> None:
    graph.state.add_account("act_1")
    graph.state.add_campaign("act_1", "c1", daily_budget=1000)
    shift_id = _shift(sqlite_engine, "meta", "act_1", "EUR", [("c1", "campaign", "c1", "10", "12")])
    meta = make_meta()
    report = apply_items(sqlite_engine, shift_id, lambda account: meta, dry_run=True)
    assert report.dry_run and report.applied == 1
    assert (
        graph.state.budget_posts == [] and _items(sqlite_engine, shift_id)[0].status == "approved"
    )


def test_google_shared_budget_moves_every_campaign_row(sqlite_engine, gads, make_gads) -> None:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", parent="1000000001")
    st.add_budget("2000000002", "900", 50_000_000, shared=True)
    st.add_campaign("2000000002", "500", "900")
    st.add_campaign("2000000002", "501", "900")
    shift_id = _shift(
        sqlite_engine,
        "google_ads",
        "2000000002",
        "EUR",
        [("500", "shared", "900", "50", "65.555"), ("501", "shared", "900", "50", "65.555")],
    )
    connector = make_gads()
    report = apply_items(sqlite_engine, shift_id, lambda account: connector)
    assert (report.status, report.applied, report.skipped) == ("applied", 1, 1)
    assert len(st.mutations) == 1
    assert st.budgets[("2000000002", "900")]["amount_micros"] == 65_550_000
    with Session(sqlite_engine) as s:
        budgets = set(s.scalars(select(Campaign.daily_budget)))
    assert budgets == {D("65.55")}


def test_conflicting_items_on_one_shared_budget(sqlite_engine, gads, make_gads) -> None:
    st = gads.state
    st.add_customer("2000000002", currency="EUR")
    st.add_budget("2000000002", "900", 50_000_000, shared=True)
    st.add_campaign("2000000002", "500", "900")
    st.add_campaign("2000000002", "501", "900")
    shift_id = _shift(
        sqlite_engine,
        "google_ads",
        "2000000002",
        "EUR",
        [("500", "shared", "900", "50", "60"), ("501", "shared", "900", "50", "40")],
    )
    connector = make_gads()
    report = apply_items(sqlite_engine, shift_id, lambda account: connector)
    assert (report.applied, report.failed) == (1, 1)
    assert st.budgets[("2000000002", "900")]["amount_micros"] == 60_000_000
    assert "refusing 40" in _items(sqlite_engine, shift_id)[1].error
