"""The campaign page's reads: ``GET /campaigns/{id}/curve`` (the latest run's response curve
with its band, the observed days, current and proposed budget) and
``GET /campaigns/{id}/budget-history`` (every shift item on the budget, with the shifts' audit
events for those who may read the audit log)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import Campaign, DailyMetric, MetricObservation
from campaigns.optimization.proposals import propose
from campaigns.shifts import lifecycle as shifts
from tests.api.conftest import SETTINGS
from tests.api.factories import create_account, create_adset, create_campaign, get_portfolio
from tests.api.fake_platform import FakePlatform

Headers = Callable[[str], dict[str, str]]
DAYS = 60


def add_curve_days(db: Session, campaign: Campaign, *, gain: float, half: float,
                   base: float, today: dt.date) -> None:
    """DAYS days up to yesterday whose spend varies around `base` and whose results follow
    gain * s / (s + half): enough for the fit to pin the curve's shape."""
    assert campaign.id is not None
    for i in range(DAYS):
        spend = base * (1 + 0.5 * math.sin(i * 0.7))
        conv = gain * spend / (spend + half)
        db.add(DailyMetric(
            campaign_id=campaign.id, account_id=campaign.account_id,
            date=today - dt.timedelta(days=DAYS - i), spend=Decimal(f"{spend:.2f}"),
            impressions=1000, clicks=50, conversions=Decimal(f"{conv:.3f}"),
            revenue=Decimal(f"{conv * 30:.2f}"), daily_budget=Decimal(100),
        ))


def seed(engine: Engine) -> dict[str, Any]:
    """Two campaigns with 60 days of history and a run that proposes moving their budgets."""
    today = dt.datetime.now(dt.UTC).date()
    with Session(engine, expire_on_commit=False) as db:
        account = create_account(db, external_id="act_1", name="Nordics Retail")
        strong = create_campaign(db, account=account, external_id="c0", name="Winter sale")
        weak = create_campaign(db, account=account, external_id="c1", name="Brand search")
        add_curve_days(db, strong, gain=12, half=80, base=100, today=today)
        add_curve_days(db, weak, gain=3, half=150, base=100, today=today)
        db.flush()
        result = propose(db, settings_from_dict(SETTINGS), created_by="nightly")
        db.commit()
    moved = {a["campaign_id"]: a for a in result.to_json()["allocations"]}
    return {"strong": strong.id, "weak": weak.id, "shift": result.shift_id,
            "run": result.run_id, "proposed": moved["c0"]["proposed_budget"], "today": today}


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform({"c0": Decimal(100), "c1": Decimal(100)})


@pytest.fixture
def client(engine: Engine, platform: FakePlatform) -> Iterator[TestClient]:
    app = create_app(settings_from_dict(SETTINGS), engine,
                     applier=shifts.writeback_applier(connectors=lambda account: platform))
    with TestClient(app) as c:
        yield c


def approve_and_apply(client: TestClient, as_role: Headers, shift_id: int) -> None:
    shift = client.get(f"/api/v1/shifts/{shift_id}", headers=as_role("viewer")).json()
    r = client.post(f"/api/v1/shifts/{shift_id}/approve", headers=as_role("manager"),
                    json={"version": shift["version"], "comment": "more for the winter sale"})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/shifts/{shift_id}/apply", headers=as_role("manager"),
                    json={"version": r.json()["version"]})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text


def test_curve_has_band_observed_days_and_both_budgets(
    client: TestClient, engine: Engine, as_role: Headers
) -> None:
    ids = seed(engine)
    r = client.get(f"/api/v1/campaigns/{ids['strong']}/curve", headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == ids["run"] and body["campaign_name"] == "Winter sale"
    assert body["current_budget"] == 100.0 and body["proposed_budget"] == ids["proposed"]
    assert body["proposed_shift_id"] == ids["shift"] and body["proposed_budget"] != 100.0
    [curve] = body["curves"]
    assert curve["budget_id"] == "c0" and curve["status"] in ("identified", "prior")
    assert curve["current_budget"] == 100.0 and curve["proposed_budget"] == ids["proposed"]
    points = curve["points"]
    assert points[0]["budget"] == 0 and points[-1]["budget"] >= 2 * 100
    convs = [p["conversions"] for p in points]
    assert convs == sorted(convs) and convs[-1] > convs[1] > 0  # saturating, increasing
    assert all(p["conversions_low"] <= p["conversions"] <= p["conversions_high"] for p in points)
    assert any(p["conversions_high"] > p["conversions_low"] for p in points)  # a real band
    assert all(p["revenue_low"] <= p["revenue"] <= p["revenue_high"] for p in points)
    # the fit follows the data: at the typical spend it is near 12 * 100 / 180 a day
    at_100 = min(points, key=lambda p: abs(p["budget"] - 100))
    assert 0.6 * 12 * at_100["budget"] / (at_100["budget"] + 80) < at_100["conversions"]
    assert at_100["conversions"] < 1.4 * 12 * at_100["budget"] / (at_100["budget"] + 80)
    observed = body["observed"]
    assert len(observed) == DAYS and observed[-1]["date"] == (
        ids["today"] - dt.timedelta(days=1)).isoformat()
    # Days written without observations of their restatements read as complete (lag 0).
    assert body["lag_days"] == 0
    assert all(d["complete"] and d["reported"] == 1.0 for d in observed)


def add_restatements(db: Session, campaign_id: int, today: dt.date) -> None:
    """What daily syncs saw: half of each day's conversions the next morning, all of them
    from its third day on."""
    rows = db.exec(select(DailyMetric).where(DailyMetric.campaign_id == campaign_id)).all()
    for m in rows:
        for age, share in ((1, Decimal("0.5")), (3, Decimal(1))):
            if m.date + dt.timedelta(days=age) <= today:
                db.add(MetricObservation(
                    campaign_id=campaign_id, date=m.date, conversions=m.conversions * share,
                    revenue=m.revenue * share, source="sync", observed_at=dt.datetime.combine(
                        m.date + dt.timedelta(days=age), dt.time(3), dt.UTC)))
    db.commit()


def test_recent_days_show_how_much_is_reported(
    client: TestClient, engine: Engine, as_role: Headers
) -> None:
    ids = seed(engine)
    with Session(engine) as db:
        add_restatements(db, ids["strong"], ids["today"])
    body = client.get(f"/api/v1/campaigns/{ids['strong']}/curve",
                      headers=as_role("viewer")).json()
    yesterday, before, third = body["observed"][-1], body["observed"][-2], body["observed"][-3]
    assert abs(yesterday["reported"] - 0.5) < 0.05 and not yesterday["complete"]
    assert abs(before["reported"] - 0.5) < 0.05 and not before["complete"]
    assert third["reported"] > 0.97 and yesterday["reported_sd"] < 0.1
    completion = body["completion"]
    assert completion["account"] == "act_1" and completion["learnt"]
    assert completion["observations"] > 60


def test_curve_without_a_run_shows_the_data_only(
    client: TestClient, db: Session, as_role: Headers
) -> None:
    account = create_account(db)
    campaign = create_campaign(db, account=account, daily_budget="40")
    db.commit()
    body = client.get(f"/api/v1/campaigns/{campaign.id}/curve", headers=as_role("viewer")).json()
    assert body["run_id"] is None and body["curves"] == [] and body["observed"] == []
    assert body["current_budget"] == 40.0 and body["proposed_budget"] is None


def test_unknown_campaign_is_404(client: TestClient, as_role: Headers) -> None:
    for path in ("curve", "budget-history"):
        r = client.get(f"/api/v1/campaigns/999/{path}", headers=as_role("viewer"))
        assert r.status_code == 404, path


def test_budget_history_lists_the_applied_change_with_its_events(
    client: TestClient, engine: Engine, as_role: Headers, platform: FakePlatform
) -> None:
    ids = seed(engine)
    approve_and_apply(client, as_role, ids["shift"])
    assert platform.budgets["c0"] == Decimal(str(ids["proposed"]))
    body = client.get(f"/api/v1/campaigns/{ids['strong']}/budget-history",
                      headers=as_role("manager")).json()
    [change] = body["changes"]
    assert change["shift_id"] == ids["shift"] and change["status"] == "applied"
    assert Decimal(change["old_budget"]) == 100
    assert Decimal(change["new_budget"]) == Decimal(change["applied_budget"])
    assert change["proposed_by"] == "nightly" and change["decided_by"] == "manager"
    assert change["applied_at"] is not None
    actions = [(e["action"], e["actor"]) for e in body["events"]]
    assert ("shift.approve", "manager") in actions and ("shift.applied", "manager") in actions
    [written] = [e for e in body["events"] if e["action"] == "shift_item.applied"]
    assert Decimal(written["old_budget"]) == 100  # what the platform held before
    assert Decimal(written["new_budget"]) == Decimal(str(ids["proposed"]))
    assert actions[-1] == ("shift.propose", "nightly")  # newest first
    # the curve no longer shows a proposal once it is applied
    curve = client.get(f"/api/v1/campaigns/{ids['strong']}/curve", headers=as_role("viewer"))
    assert curve.json()["proposed_budget"] is None


def test_viewer_gets_the_changes_but_not_the_audit_events(
    client: TestClient, engine: Engine, as_role: Headers
) -> None:
    ids = seed(engine)
    body = client.get(f"/api/v1/campaigns/{ids['weak']}/budget-history",
                      headers=as_role("viewer")).json()
    assert body["events"] is None
    assert [c["status"] for c in body["changes"]] == ["pending"]


def test_a_token_of_another_portfolio_does_not_see_the_campaign(
    client: TestClient, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as db:
        get_portfolio(db, "other")
        _, secret = create_token(db, name="elsewhere", role="manager", actor="test",
                                 portfolios=["other"])
        db.commit()
    for path in ("curve", "budget-history"):
        r = client.get(f"/api/v1/campaigns/{ids['strong']}/{path}",
                       headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 404, (path, r.text)


def test_ad_set_budgets_get_a_curve_each_with_their_own_budgets(
    client: TestClient, engine: Engine, as_role: Headers
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with Session(engine, expire_on_commit=False) as db:
        account = create_account(db, external_id="act_2")
        split = create_campaign(db, account=account, external_id="c5", name="Split")
        split.budget_level, split.daily_budget = "adset", None
        sets = [create_adset(db, campaign=split, daily_budget=b) for b in ("30", "70")]
        other = create_campaign(db, account=account, external_id="c6")
        add_curve_days(db, split, gain=10, half=90, base=100, today=today)
        add_curve_days(db, other, gain=4, half=120, base=100, today=today)
        db.flush()
        propose(db, settings_from_dict(SETTINGS), created_by="nightly")
        db.commit()
    body = client.get(f"/api/v1/campaigns/{split.id}/curve", headers=as_role("viewer")).json()
    assert body["current_budget"] is None
    got = {c["budget_id"]: (c["level"], c["current_budget"]) for c in body["curves"]}
    assert got == {sets[0].external_id: ("adset", 30.0), sets[1].external_id: ("adset", 70.0)}
    assert all(c["points"][-1]["conversions"] > 0 for c in body["curves"])


def test_a_second_view_reads_the_kept_fit_until_the_data_changes(
    client: TestClient, engine: Engine, as_role: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaigns.optimization import curve_view

    fits: list[str] = []
    real = curve_view.fit_results

    def counted(*args: Any, **kwargs: Any) -> Any:
        fits.extend(("conversions", "revenue"))
        return real(*args, **kwargs)

    monkeypatch.setattr(curve_view, "fit_results", counted)
    curve_view.FITS.clear()
    ids = seed(engine)
    first = client.get(f"/api/v1/campaigns/{ids['strong']}/curve", headers=as_role("viewer"))
    assert fits == ["conversions", "revenue"]
    again = client.get(f"/api/v1/campaigns/{ids['strong']}/curve", headers=as_role("manager"))
    other = client.get(f"/api/v1/campaigns/{ids['weak']}/curve", headers=as_role("viewer"))
    assert fits == ["conversions", "revenue"]  # the page again, and its neighbour: no refit
    assert again.json()["curves"] == first.json()["curves"] and other.json()["curves"]
    # a new day of data for the portfolio: the next view fits again, over it
    with Session(engine) as db:
        strong = db.get(Campaign, ids["strong"])
        assert strong is not None and strong.id is not None
        db.add(DailyMetric(campaign_id=strong.id, account_id=strong.account_id,
                           date=ids["today"] - dt.timedelta(days=DAYS + 1),
                           spend=Decimal("400"), conversions=Decimal("40"), revenue=Decimal(1200)))
        db.commit()
    moved = client.get(f"/api/v1/campaigns/{ids['strong']}/curve", headers=as_role("viewer"))
    assert fits == ["conversions", "revenue"] * 2
    assert moved.json()["curves"][0]["points"] != first.json()["curves"][0]["points"]


def test_the_campaign_page_has_the_shared_header(client: TestClient) -> None:
    """The same header as every page: the pages to go to, the sign-in with how to get a
    token; no portfolio picker (the campaign belongs to one); the styles of the other pages."""
    campaign_page = client.get("/campaigns/7")
    plans_page = client.get("/plans")
    assert campaign_page.status_code == 200

    def header(text: str) -> str:
        return text[text.index("<header>"):text.index("</header>")]

    page, plans = campaign_page.text, header(plans_page.text)
    for part in ('aria-label="Pages"', 'href="/pacing"', 'href="/finance"', 'href="/plans"',
                 'id="signin-form"', "budgetpilot token create"):
        assert part in header(page) and part in plans, part
    assert 'id="portfolio"' in plans and 'id="portfolio"' not in page
    assert 'aria-current="page"' not in header(page)
    assert 'data-campaign="7"' in page and "<title>budgetpilot · campaign 7</title>" in page
    assert '/static/workspace.css' in page and '/static/completion.css' in page
    assert '<h2 id="campaign-title">Campaign 7</h2>' in page
