"""Pacing and finance over HTTP against hand-computed figures (FX, time zones, leap day)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from campaigns.models import ShiftItem
from tests.api.factories import (
    add_fx,
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
)

Headers = Callable[[str], dict[str, str]]
D = dt.date


def test_pacing_in_reporting_currency(client: TestClient, as_role: Headers, db: Session) -> None:
    acc = create_account(db, network="google", currency="USD", external_id="111-222",
                         timezone="America/New_York")
    camp = create_campaign(db, account=acc, external_id="9")
    add_metrics(db, campaign=camp, start=D(2024, 1, 1), spends=["200"] * 10)
    for i in range(10):
        if D(2024, 1, 1 + i).weekday() < 5:  # no weekend rates: Friday's carries over
            add_fx(db, day=D(2024, 1, 1 + i), currency="USD", quote="EUR", rate="0.5")
    create_plan(db, month=D(2024, 1, 1), planned="3100")
    create_plan(db, month=D(2024, 1, 1), planned="1000", scope="campaign",
                scope_key="google:111-222:9")
    db.commit()
    r = client.get("/api/v1/pacing?month=2024-01-01&as_of=2024-01-10", headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["days_elapsed"] == 10 and body["days_in_month"] == 31
    rows = {(x["scope"], x["scope_key"]): x for x in body["data"]}
    total = rows[("total", "")]
    assert total["currency"] == "EUR" and total["spend_to_date"] == "1000.00"
    assert total["expected_to_date"] == "1000.00" and total["forecast"] == "3100.00"
    assert total["status"] == "on_track"
    assert rows[("network", "google")]["status"] == "no_plan"
    campaign = rows[("campaign", "google:111-222:9")]
    assert campaign["status"] == "over" and campaign["forecast_ratio"] == 3.1


def test_pacing_without_fx_is_a_clear_422(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    acc = create_account(db, currency="GBP")
    add_metrics(db, campaign=create_campaign(db, account=acc), start=D(2024, 1, 1), spends=["1"])
    db.commit()
    r = client.get("/api/v1/pacing?as_of=2024-01-10", headers=as_role("viewer"))
    assert r.status_code == 422 and "GBP→EUR" in r.json()["detail"]


def _finance_fixture(db: Session) -> None:
    a = create_account(db, network="meta", currency="USD", external_id="act_A",
                       timezone="America/Los_Angeles")
    b = create_account(db, network="google", currency="EUR", external_id="B",
                       timezone="Pacific/Auckland")
    c = create_account(db, network="meta", currency="JPY", external_id="act_C",
                       timezone="Asia/Tokyo")
    ca, cb, cc = (create_campaign(db, account=x) for x in (a, b, c))
    add_metrics(db, campaign=ca, start=D(2024, 2, 28), spends=["100", "50", "10", "20"])
    add_fx(db, day=D(2024, 2, 28), currency="USD", quote="EUR", rate="0.9")
    add_fx(db, day=D(2024, 2, 29), currency="USD", quote="EUR", rate="0.92")
    add_fx(db, day=D(2024, 3, 1), currency="USD", quote="EUR", rate="0.93")  # Sat 2nd carries
    # Auckland's 1 March starts on 29 February UTC: it is March spend for this account.
    add_metrics(db, campaign=cb, start=D(2024, 2, 28), spends=["0.005", "0.005", "33.335"])
    add_fx(db, day=D(2024, 2, 29), currency="EUR", quote="JPY", rate="160")  # inverse only
    add_metrics(db, campaign=cc, start=D(2024, 2, 29), spends=["10000"])
    create_plan(db, month=D(2024, 2, 1), planned="200")
    create_plan(db, month=D(2024, 3, 1), planned="30", scope="account", scope_key="meta:act_A")
    db.commit()


def test_finance_report_json(client: TestClient, as_role: Headers, db: Session) -> None:
    _finance_fixture(db)
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-02-01&end_month=2024-03-01",
                   headers=as_role("finance"))
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {(x["month"], x["account"]): x for x in body["rows"]}
    assert rows[("2024-02-01", "meta:act_A")]["spend"] == "136.00"  # 100x0.9 + 50x0.92
    assert rows[("2024-03-01", "meta:act_A")]["spend"] == "27.90"  # (10 + 20) x 0.93
    assert rows[("2024-03-01", "meta:act_A")]["variance"] == "-2.10"
    assert rows[("2024-02-01", "google:B")]["spend"] == "0.01"  # rounded once per row
    assert rows[("2024-03-01", "google:B")]["spend"] == "33.34"
    assert rows[("2024-02-01", "meta:act_C")]["spend"] == "62.50"  # 10000 / 160
    months = {t["month"]: t for t in body["month_totals"]}
    assert months["2024-02-01"]["spend"] == "198.51" and months["2024-02-01"]["variance"] == "-1.49"
    assert months["2024-03-01"]["spend"] == "61.24" and months["2024-03-01"]["plan"] is None
    assert body["total"]["spend"] == "259.75" and body["total"]["plan"] is None
    nets = {(t["month"], t["network"]): t["spend"] for t in body["network_totals"]}
    assert nets[("2024-02-01", "meta")] == "198.50"


def test_finance_report_csv_adds_up(client: TestClient, as_role: Headers, db: Session) -> None:
    from decimal import Decimal

    _finance_fixture(db)
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-02-01&end_month=2024-03-01",
                   headers={**as_role("viewer"), "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    accounts = [x for x in lines if x["level"] == "account"]
    total = next(x for x in lines if x["level"] == "total")
    assert sum(Decimal(x["spend_eur"]) for x in accounts) == Decimal(total["spend_eur"])
    assert total["spend_eur"] == "259.75"


def test_finance_forbidden_for_service(client: TestClient, as_role: Headers) -> None:
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-02-01&end_month=2024-03-01",
                   headers=as_role("service"))
    assert r.status_code == 403


def test_pacing_forecast_follows_budgets_and_approved_shifts(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    acc = create_account(db, network="meta", currency="EUR", external_id="act_F")
    camp = create_campaign(db, account=acc, external_id="F1", daily_budget="100")
    add_metrics(db, campaign=camp, start=D(2024, 3, 1), spends=["90"] * 10)  # ratio 0.9
    no_budget = create_campaign(db, account=create_account(db, network="tiktok",
                                                           external_id="tt_X"),
                                external_id="X1", daily_budget="0")  # as a CSV import leaves it
    add_metrics(db, campaign=no_budget, start=D(2024, 3, 1), spends=["10"] * 10)
    create_plan(db, month=D(2024, 3, 1), planned="2790", scope="account", scope_key="meta:act_F")
    db.commit()

    def rows() -> dict[tuple[str, str], dict]:
        r = client.get("/api/v1/pacing?month=2024-03-01&as_of=2024-03-10",
                       headers=as_role("viewer"))
        assert r.status_code == 200, r.text
        return {(x["scope"], x["scope_key"]): x for x in r.json()["data"]}

    account = rows()[("account", "meta:act_F")]
    assert account["forecast_method"] == "budgets"
    assert account["forecast"] == "2790.00" and account["status"] == "on_track"  # 900 + 21 x 90
    assert account["forecast_low"] == account["forecast_high"] == "2790.00"  # no noise at all
    tiktok = rows()[("network", "tiktok")]
    assert tiktok["forecast_method"] == "run_rate" and tiktok["forecast"] == "310.00"
    assert float(tiktok["forecast_low"]) <= 310 <= float(tiktok["forecast_high"])

    # approved, not yet applied: 100 today, 150 from tomorrow: 900 + 90 + 20 x 135 = 3690
    shift = create_shift(db, campaigns=[camp], new_budgets=["150"])
    shift.status, shift.version = "approved", shift.version + 1  # as approve() leaves it
    for item in shift_items(db, shift.id):
        item.status = "approved"
    db.commit()
    client.app.state.responses.invalidate()  # as a write through the API does  # type: ignore[attr-defined]
    account = rows()[("account", "meta:act_F")]
    assert account["forecast"] == "3690.00" and account["status"] == "over"


def shift_items(db: Session, shift_id: int | None) -> list[ShiftItem]:
    return list(db.exec(select(ShiftItem).where(ShiftItem.shift_id == shift_id)))


def test_pacing_reads_past_budgets_through_applied_shifts(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    acc = create_account(db, network="meta", currency="EUR", external_id="act_H",
                         timezone="Europe/Berlin")
    camp = create_campaign(db, account=acc, external_id="H1", daily_budget="100")
    # 50 a day until a shift applied on 6 March (Berlin) raised it to 100; delivery 0.9 all along
    add_metrics(db, campaign=camp, start=D(2024, 3, 1), spends=["45"] * 5 + ["90"] * 5)
    shift = create_shift(db, campaigns=[camp], new_budgets=["100"])
    shift.status, shift.version = "applied", shift.version + 1
    for item in shift_items(db, shift.id):
        item.old_budget, item.status = Decimal("50"), "applied"
        item.applied_at = dt.datetime(2024, 3, 5, 23, 30, tzinfo=dt.UTC)  # 00:30 in Berlin
    db.commit()
    r = client.get("/api/v1/pacing?month=2024-03-01&as_of=2024-03-10", headers=as_role("viewer"))
    account = {(x["scope"], x["scope_key"]): x for x in r.json()["data"]}[("account",
                                                                             "meta:act_H")]
    # ratio 0.9 (not 675 / 1000): 675 + 21 x 100 x 0.9
    assert account["forecast_method"] == "budgets" and account["forecast"] == "2565.00"
