"""The hard monthly stop: a hard plan's month-to-date spend plus what the budgets in force
commit for the rest of the month (at the platforms' allowed overdelivery) never passes the
cap. Exact (Decimal) at several days of the month with an explicit clock; the nightly run
lowers the budgets to land on it (or pauses), raises an alert, and a dry run only says so."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.automation import AutomationSettings, pause_state
from campaigns.columns import utcnow
from campaigns.jobs.nightly import run_nightly
from campaigns.models import Alert, BudgetPlan, BudgetShift, ShiftItem
from campaigns.optimization.hard_stop import Committed, check, land_on_cap
from connectors.currencies import minor_unit as smallest
from tests.api.factories import (
    add_fx,
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    get_portfolio,
)
from tests.api.sandbox import platform_budgets, sandbox_settings, sync_sandbox

POLICY = AutomationSettings()
CURRENCIES = {"EUR": "1", "USD": "0.925", "JPY": "0.00625"}


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[Decimal, Decimal, list[Committed]]:
    units = []
    for i in range(draw(st.integers(1, 8))):
        currency = draw(st.sampled_from(sorted(CURRENCIES)))
        step = smallest(currency)
        budget = Decimal(draw(st.integers(1, 10**7))) * step
        units.append(Committed(f"u{i}", budget, currency, Decimal(CURRENCIES[currency]),
                               draw(st.integers(0, 31)),
                               draw(st.sampled_from([Decimal(1), Decimal("1.75"), Decimal(2)]))))
    spent = Decimal(draw(st.integers(0, 10**8))) / 100
    cap = Decimal(draw(st.integers(0, 10**8))) / 100
    return spent, cap, units


@settings(max_examples=300, deadline=None)
@given(portfolios())
def test_lowered_budgets_land_on_the_cap_and_never_above(
    case: tuple[Decimal, Decimal, list[Committed]],
) -> None:
    spent, cap, units = case
    new = land_on_cap(spent, cap, units)
    rest = sum((u.amount for u in units), Decimal(0))
    if spent + rest <= cap:
        assert new == {}
        return
    after = [Committed(u.unit_id, new.get(u.unit_id, u.budget), u.currency, u.rate, u.days,
                       u.factor) for u in units]
    committed = sum((u.amount for u in after), Decimal(0))
    assert all(new[k] <= u.budget for u in units for k in [u.unit_id] if k in new)
    assert all(v >= 0 and v == v.quantize(smallest(u.currency))
               for u in units for k, v in new.items() if k == u.unit_id)
    if spent >= cap:
        assert all(u.amount == 0 for u in after)  # nothing left to commit
        return
    assert spent + committed <= cap
    slack = sum((smallest(u.currency) * u.rate * u.days * u.factor for u in units), Decimal(0))
    assert spent + committed >= cap - slack  # landed on it, within one unit of rounding each


def test_the_stop_at_several_days_of_the_month(db: Session) -> None:
    """EUR portfolio; a Meta account in Berlin (EUR) and a Google account in New York (USD),
    10 EUR and 100 USD a day spent since the 1st; hard plans on each account."""
    portfolio = get_portfolio(db)
    meta = create_account(db, network="meta", currency="EUR", timezone="Europe/Berlin",
                          external_id="act_1")
    google = create_account(db, network="google", currency="USD", timezone="America/New_York",
                            external_id="111")
    m1 = create_campaign(db, account=meta, daily_budget="40", external_id="m1")
    m2 = create_campaign(db, account=meta, daily_budget="60", external_id="m2")
    g1 = create_campaign(db, account=google, daily_budget="200", external_id="g1")
    first = dt.date(2026, 3, 1)
    for day in range(31):
        add_fx(db, day=first + dt.timedelta(days=day), currency="USD", quote="EUR", rate="0.9")
    add_metrics(db, campaign=m1, start=first, spends=["4"] * 31)
    add_metrics(db, campaign=m2, start=first, spends=["6"] * 31)
    add_metrics(db, campaign=g1, start=first, spends=["100"] * 31)
    meta_plan = create_plan(db, month=first, planned="2000", scope="account",
                            scope_key="meta:act_1")
    google_plan = create_plan(db, month=first, planned="4000", scope="account",
                              scope_key="google:111")
    for plan in (meta_plan, google_plan):
        plan.hard = True
    db.commit()
    for day in (1, 10, 20, 31):
        now = dt.datetime(2026, 3, day, 3, 0, tzinfo=dt.UTC)  # 04:00 Berlin, 23:00 New York
        stop = check(db, portfolio, now=now, settings=POLICY)
        by_plan = {b.plan_id: b for b in stop.breaches}
        # Meta: local day == UTC day; spent 10 a day before today; 100 a day × 1.75 committed.
        meta_left = 31 - day + 1
        meta_spent = Decimal(10) * (day - 1)
        meta_committed = Decimal(100) * meta_left * Decimal("1.75")
        if meta_spent + meta_committed > 2000:
            b = by_plan[meta_plan.id]
            assert (b.spent, b.committed) == (meta_spent, meta_committed)
            new = b.lowered
            scale = (Decimal(2000) - meta_spent) / meta_committed
            assert set(new) == {"meta:act_1:m1", "meta:act_1:m2"}
            for unit_id, old in (("meta:act_1:m1", 40), ("meta:act_1:m2", 60)):
                exact = Decimal(old) * scale
                assert exact - Decimal("0.01") < new[unit_id] <= exact
            landed = meta_spent + sum(new.values()) * meta_left * Decimal("1.75")
            assert Decimal(2000) - Decimal("0.04") * meta_left < landed <= 2000
        else:
            assert meta_plan.id not in by_plan
        # Google: still the day before in New York; 90 EUR a day spent; 200 USD × 0.9 × 2.
        local = day - 1
        google_left = 31 - local + 1 if local >= 1 else 31
        google_spent = Decimal(90) * max(local - 1, 0)
        google_committed = Decimal(200) * Decimal("0.9") * google_left * 2
        b = next((x for x in stop.breaches if x.plan_id == google_plan.id), None)
        if google_spent + google_committed > 4000:
            assert b is not None and (b.spent, b.committed) == (google_spent, google_committed)
            [new] = b.lowered.values()
            landed = google_spent + new * Decimal("0.9") * google_left * 2
            assert landed <= 4000 < landed + Decimal("0.01") * Decimal("0.9") * google_left * 2
        else:
            assert b is None
    # A plan that is not hard is only a plan: nothing is lowered for it.
    meta_plan.hard = google_plan.hard = False
    db.commit()
    assert check(db, portfolio, now=dt.datetime(2026, 3, 20, 3, tzinfo=dt.UTC),
                 settings=POLICY).breaches == []


def _hard_plan(engine: Engine, settings_: object, account: str, now: dt.datetime) -> int:
    """A hard plan on ``account`` that leaves room for half of what its budgets commit."""
    with Session(engine, expire_on_commit=False) as session:
        portfolio = get_portfolio(session)
        plan = create_plan(session, month=now.date().replace(day=1), planned="0",
                           scope="account", scope_key=account)
        plan.hard = True
        session.commit()
        [breach] = check(session, portfolio, now=now, settings=POLICY).breaches
        plan.planned_spend = (breach.spent + breach.committed / 2).quantize(Decimal("0.01"))
        session.commit()
        return plan.id  # type: ignore[return-value]


def test_the_nightly_run_lowers_budgets_to_the_cap_and_alerts(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings_ = sandbox_settings(tmp_path, optimizer={"max_change": 0.05},
                                 scheduler={"sync": False})
    sync_sandbox(engine, settings_)
    at = utcnow()
    plan_id = _hard_plan(engine, settings_, "meta:act_1001", at)
    before = platform_budgets(settings_)
    dry = run_nightly(engine, settings_, now=lambda: at, dry_run=True)
    assert any("hard stop:" in line and "would pass the cap" in line for line in dry.lines())
    assert platform_budgets(settings_) == before
    assert db.scalars(select(Alert).where(Alert.kind == "hard_stop")).all() == []

    report = run_nightly(engine, settings_, now=lambda: at)
    [outcome] = report.portfolios
    assert outcome.status == "succeeded", report.lines()
    [stop] = db.scalars(select(BudgetShift).where(BudgetShift.created_by == "hard_stop")).all()
    assert stop.status == "applied" and stop.decided_by == "nightly"
    items = db.scalars(select(ShiftItem).where(ShiftItem.shift_id == stop.id)).all()
    assert items and all(i.new_budget < i.old_budget for i in items)
    after = platform_budgets(settings_)
    for item in items:
        assert after[item.target_external_id] <= item.new_budget  # the proposal only lowers more
    [alert] = db.scalars(select(Alert).where(Alert.kind == "hard_stop")).all()
    assert alert.severity == "critical" and "meta:act_1001" in alert.message
    assert any(line.startswith("  hard stop:") for line in report.lines())
    assert report.alerts_created >= 1
    # The month fits now, with the budgets in force after the whole run.
    plan = db.get(BudgetPlan, plan_id)
    assert plan is not None
    assert check(db, get_portfolio(db), now=at, settings=POLICY).breaches == []


def test_pause_policy_pauses_the_accounts_instead(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings_ = sandbox_settings(tmp_path, optimizer={"max_change": 0.05},
                                 scheduler={"sync": False}, automation={"hard_stop": "pause"})
    sync_sandbox(engine, settings_)
    at = utcnow()
    _hard_plan(engine, settings_, "meta:act_1001", at)
    report = run_nightly(engine, settings_, now=lambda: at)
    assert report.portfolios[0].status == "succeeded", report.lines()
    [paused] = pause_state(db).pauses
    assert (paused.scope, paused.scope_key, paused.paused_by) == (
        "account", "meta:act_1001", "nightly")
    assert "would pass the cap" in paused.reason
    assert db.scalars(select(BudgetShift).where(BudgetShift.created_by == "hard_stop")).all() == []
    assert db.scalars(select(Alert).where(Alert.kind == "hard_stop")).one()


def test_a_plan_is_made_hard_over_the_api(client: object, as_role: object, db: Session) -> None:
    get_portfolio(db)
    db.commit()
    headers = as_role("finance")  # type: ignore[operator]
    r = client.post("/api/v1/plans", headers=headers, json={  # type: ignore[attr-defined]
        "month": "2026-03-01", "scope": "total", "planned_spend": "1000", "hard": True})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["hard"] is True
    r = client.put(f"/api/v1/plans/{plan['id']}", headers=headers,  # type: ignore[attr-defined]
                   json={"planned_spend": "1200", "version": plan["version"]})
    assert r.status_code == 200 and r.json()["hard"] is True  # kept when not named
    r = client.put(f"/api/v1/plans/{plan['id']}", headers=headers,  # type: ignore[attr-defined]
                   json={"planned_spend": "1200", "version": r.json()["version"], "hard": False})
    assert r.status_code == 200 and r.json()["hard"] is False
    r = client.post("/api/v1/plans", headers=headers, json={  # type: ignore[attr-defined]
        "month": "2026-04-01", "scope": "total", "planned_spend": "1000"})
    assert r.json()["hard"] is False
