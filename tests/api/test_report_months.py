"""Pacing of any month (``month=YYYY-MM``), and finance agreeing with pacing to the cent: the
same spend to date per account, network and total, the same forecasts; a missing FX rate marks
its rows and names the rate instead of refusing the report; amounts in the currency's own
decimals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from tests.api.factories import (
    add_fx,
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    get_portfolio,
)

Headers = Callable[[str], dict[str, str]]
D = dt.date


def _rows(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(x["scope"], x["scope_key"]): x for x in body["data"]}


def _two_months(db: Session) -> None:
    acc = create_account(db, network="meta", external_id="act_M")
    camp = create_campaign(db, account=acc, daily_budget="100")
    add_metrics(db, campaign=camp, start=D(2024, 2, 1), spends=["50"] * 29 + ["80"] * 10)
    create_plan(db, month=D(2024, 2, 1), planned="1400")
    create_plan(db, month=D(2024, 3, 1), planned="2480")
    db.commit()


def test_pacing_of_an_earlier_month_by_yyyy_mm(client: TestClient, as_role: Headers,
                                              db: Session) -> None:
    _two_months(db)
    r = client.get("/api/v1/pacing?month=2024-02&as_of=2024-03-10", headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    # a month that has ended is reported as of its last day: its forecast is what it spent
    assert (body["month"], body["as_of"]) == ("2024-02-01", "2024-02-29")
    assert body["days_elapsed"] == body["days_in_month"] == 29
    total = _rows(body)[("total", "")]
    assert total["spend_to_date"] == total["forecast"] == "1450.00"
    assert total["forecast_low"] == total["forecast_high"] == "1450.00"
    assert total["planned"] == "1400.00" and total["status"] == "on_track"  # 3.6% over, 10% allowed
    # a day of the month means its month, as before
    same = client.get("/api/v1/pacing?month=2024-02-17&as_of=2024-03-10",
                      headers=as_role("viewer"))
    assert same.json() == body
    march = client.get("/api/v1/pacing?month=2024-03&as_of=2024-03-10", headers=as_role("viewer"))
    assert _rows(march.json())[("total", "")]["spend_to_date"] == "800.00"


@pytest.mark.parametrize("month", ["2024-13", "2024-00", "2024-02-30", "24-02", "2024-2",
                                   "1999-12", "2101-01", "March"])
def test_a_bad_month_is_a_422_naming_it(client: TestClient, as_role: Headers,
                                        month: str) -> None:
    r = client.get(f"/api/v1/pacing?month={month}", headers=as_role("viewer"))
    assert r.status_code == 422, (month, r.text)
    assert "month" in r.text


def test_a_month_not_begun_is_a_422(client: TestClient, as_role: Headers, db: Session) -> None:
    _two_months(db)
    r = client.get("/api/v1/pacing?month=2024-04&as_of=2024-03-10", headers=as_role("viewer"))
    assert r.status_code == 422
    assert "2024-04 has not begun by 2024-03-10" in r.json()["detail"]


def _cents_apart(db: Session) -> None:
    """Three accounts whose converted spend ends in half a cent each: rounding each account
    (0.00 + 0.00 + 0.00) and rounding their sum (0.015 → 0.02) differ by 2 cents."""
    for ext in ("act_1", "act_2", "act_3"):
        acc = create_account(db, network="meta", currency="USD", external_id=ext)
        add_metrics(db, campaign=create_campaign(db, account=acc, daily_budget="1"),
                    start=D(2024, 3, 1), spends=["0.01"])
    google = create_account(db, network="google", currency="USD", external_id="G")
    add_metrics(db, campaign=create_campaign(db, account=google, daily_budget="40"),
                start=D(2024, 2, 1), spends=["33.333"] * 39)
    for i in range(40):
        add_fx(db, day=D(2024, 2, 1) + dt.timedelta(days=i), currency="USD", quote="EUR",
               rate="0.5" if i >= 29 else "0.9137")
    create_plan(db, month=D(2024, 3, 1), planned="500")
    create_plan(db, month=D(2024, 3, 1), planned="480", scope="network", scope_key="google")
    db.commit()


def test_finance_agrees_with_pacing_to_the_cent(client: TestClient, as_role: Headers,
                                                db: Session) -> None:
    _cents_apart(db)
    pacing = _rows(client.get("/api/v1/pacing?month=2024-03&as_of=2024-03-10",
                              headers=as_role("viewer")).json())
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-02&end_month=2024-04"
                   "&as_of=2024-03-10", headers=as_role("finance"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2024-03-10"
    march = {x["account"]: x for x in body["rows"] if x["month"] == "2024-03-01"}
    for key, row in march.items():
        assert row["spend"] == pacing[("account", key)]["spend_to_date"], key
        assert row["forecast"] == pacing[("account", key)]["forecast"], key
    nets = {t["network"]: t for t in body["network_totals"] if t["month"] == "2024-03-01"}
    for network in ("meta", "google"):
        assert nets[network]["spend"] == pacing[("network", network)]["spend_to_date"]
        assert nets[network]["forecast"] == pacing[("network", network)]["forecast"]
    months = {t["month"]: t for t in body["month_totals"]}
    total = pacing[("total", "")]
    assert months["2024-03-01"]["spend"] == total["spend_to_date"] == "166.66"  # 3 x 0.00 + 166.665→.66
    assert nets["meta"]["spend"] == "0.00"  # each 0.005 rounds half-even to 0.00
    assert months["2024-03-01"]["forecast"] == total["forecast"]
    assert Decimal(months["2024-03-01"]["forecast_variance"]) == (
        Decimal(total["forecast"]) - Decimal("500.00"))
    assert Decimal(nets["google"]["forecast_variance"]) == (
        Decimal(nets["google"]["forecast"]) - Decimal("480.00"))
    # February has ended: its forecast is what it spent; April has not begun: none
    assert months["2024-02-01"]["forecast"] == months["2024-02-01"]["spend"] == "883.23"
    assert months["2024-04-01"]["forecast"] is None and months["2024-04-01"]["spend"] == "0.00"
    assert body["total"]["forecast"] is None  # April's is unknown
    assert body["missing_rates"] == [] and body["total"]["complete"] is True


def test_finance_counts_spend_through_as_of_like_pacing(client: TestClient, as_role: Headers,
                                                       db: Session) -> None:
    _two_months(db)  # spend through 10 March
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-03&end_month=2024-03"
                   "&as_of=2024-03-05", headers=as_role("viewer"))
    assert r.json()["total"]["spend"] == "400.00"  # 5 days, not 10


def _missing_sek(db: Session) -> None:
    eur = create_account(db, network="meta", external_id="act_E", name="DACH Brand")
    add_metrics(db, campaign=create_campaign(db, account=eur), start=D(2024, 3, 1),
                spends=["90"] * 10)
    sek = create_account(db, network="meta", currency="SEK", external_id="act_S",
                         name="Nordics Retail")
    add_metrics(db, campaign=create_campaign(db, account=sek), start=D(2024, 2, 26),
                spends=["1000"] * 14)
    add_fx(db, day=D(2024, 2, 26), currency="SEK", quote="EUR", rate="0.088")  # covers to 4 Mar
    create_plan(db, month=D(2024, 3, 1), planned="3000")
    db.commit()


def test_a_missing_fx_rate_marks_its_rows_and_names_the_rate(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    _missing_sek(db)
    url = ("/api/v1/finance/spend-vs-plan?start_month=2024-02&end_month=2024-03"
           "&as_of=2024-03-10")
    r = client.get(url, headers=as_role("finance"))
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {(x["month"], x["account"]): x for x in body["rows"]}
    feb = rows[("2024-02-01", "meta:act_S")]
    assert feb["spend"] == "352.00" and feb["missing_rate"] is None  # 4 x 1000 x 0.088
    sek = rows[("2024-03-01", "meta:act_S")]
    assert sek["spend"] is None and sek["forecast"] is None
    assert sek["spend_local"] == "10000.00"
    assert sek["missing_rate"] == "SEK→EUR for 2024-03-05 to 2024-03-10"
    eur = rows[("2024-03-01", "meta:act_E")]
    assert eur["spend"] == "900.00" and eur["forecast"] is not None
    march = next(t for t in body["month_totals"] if t["month"] == "2024-03-01")
    assert march["spend"] == "900.00" and march["complete"] is False
    assert body["total"]["complete"] is False
    (missing,) = body["missing_rates"]
    assert (missing["currency"], missing["quote"]) == ("SEK", "EUR")
    assert (missing["first_day"], missing["last_day"]) == ("2024-03-05", "2024-03-10")
    assert missing["accounts"] == ["meta:act_S"]
    assert "add the SEK→EUR rate of 2024-03-05" in missing["message"]

    lines = list(csv.DictReader(io.StringIO(
        client.get(url + "&format=csv", headers=as_role("finance")).text)))
    marked = next(x for x in lines if x["account"] == "meta:act_S" and x["month"] == "2024-03")
    assert marked["spend_eur"] == "" and marked["note"] == (
        "missing FX rate SEK→EUR for 2024-03-05 to 2024-03-10")
    total = next(x for x in lines if x["level"] == "total")
    assert total["spend_eur"] == "1252.00" and total["note"].startswith("incomplete")

    # the rate added, the rows are whole again
    add_fx(db, day=D(2024, 3, 5), currency="SEK", quote="EUR", rate="0.09")
    db.commit()
    client.app.state.responses.invalidate()  # type: ignore[attr-defined]
    again = client.get(url, headers=as_role("finance")).json()
    assert again["missing_rates"] == [] and again["total"]["complete"] is True
    assert again["total"]["spend"] == "2144.00"  # 352 + (352 + 6 x 90) + 900


def test_amounts_in_the_currency_own_decimals(client: TestClient, as_role: Headers,
                                              db: Session) -> None:
    yen = get_portfolio(db, "yen", currency="JPY")
    acc = create_account(db, network="google", currency="USD", external_id="Y", portfolio=yen)
    add_metrics(db, campaign=create_campaign(db, account=acc), start=D(2024, 3, 1),
                spends=["10.01"] * 3)
    for i in range(3):
        add_fx(db, day=D(2024, 3, 1 + i), currency="USD", quote="JPY", rate="150.3")
    create_plan(db, month=D(2024, 3, 1), planned="5000", portfolio=yen)
    db.commit()
    pacing = _rows(client.get("/api/v1/pacing?portfolio=yen&month=2024-03&as_of=2024-03-03",
                              headers=as_role("viewer")).json())
    assert pacing[("total", "")]["spend_to_date"] == "4514"  # 30.03 x 150.3 = 4513.509
    assert pacing[("total", "")]["planned"] == "5000"
    r = client.get("/api/v1/finance/spend-vs-plan?portfolio=yen&start_month=2024-03"
                   "&end_month=2024-03&as_of=2024-03-03&format=csv", headers=as_role("finance"))
    (row,) = [x for x in csv.DictReader(io.StringIO(r.text)) if x["level"] == "account"]
    assert (row["spend_local"], row["spend_jpy"], row["plan"]) == ("30.03", "4514", "")
    total = next(x for x in csv.DictReader(io.StringIO(r.text)) if x["level"] == "total")
    assert (total["spend_jpy"], total["plan"], total["variance"]) == ("4514", "5000", "-486")
    assert total["forecast"] == pacing[("total", "")]["forecast"]


_examples = itertools.count(1)
ACCOUNT = st.tuples(st.sampled_from(["meta", "google"]), st.sampled_from(["EUR", "USD", "SEK"]),
                    st.lists(st.decimals(0, 500, places=2), min_size=1, max_size=5))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(ACCOUNT, min_size=1, max_size=4),
       st.decimals(Decimal("0.01"), Decimal("20"), places=6))
def test_finance_and_pacing_agree_to_the_cent_whatever_the_amounts(
    client: TestClient, as_role: Headers, db: Session,
    accounts: list[tuple[str, str, list[Decimal]]], rate: Decimal,
) -> None:
    # each example in a portfolio and a March of its own (FX rates are shared by portfolios)
    n = next(_examples)
    name, month = f"agree{n}", D(2001 + n % 90, 3, 1)
    as_of = month + dt.timedelta(days=4)
    portfolio = get_portfolio(db, name)
    for i, (network, currency, spends) in enumerate(accounts):
        acc = create_account(db, network=network, currency=currency, portfolio=portfolio,
                             external_id=f"{name}_{i}")
        add_metrics(db, campaign=create_campaign(db, account=acc), start=month,
                    spends=list(spends))
    for currency in ("USD", "SEK"):
        add_fx(db, day=month, currency=currency, quote="EUR", rate=str(rate))
    db.commit()
    query = f"portfolio={name}&as_of={as_of}"
    pacing = _rows(client.get(f"/api/v1/pacing?{query}&month={month:%Y-%m}",
                              headers=as_role("viewer")).json())
    body = client.get(f"/api/v1/finance/spend-vs-plan?{query}&start_month={month:%Y-%m}"
                      f"&end_month={month:%Y-%m}", headers=as_role("viewer")).json()
    for row in body["rows"]:
        assert row["spend"] == pacing[("account", row["account"])]["spend_to_date"]
        assert row["forecast"] == pacing[("account", row["account"])]["forecast"]
    for t in body["network_totals"]:
        assert t["spend"] == pacing[("network", t["network"])]["spend_to_date"]
        assert t["forecast"] == pacing[("network", t["network"])]["forecast"]
    (total,) = body["month_totals"]
    assert total["spend"] == pacing[("total", "")]["spend_to_date"] == body["total"]["spend"]
    assert total["forecast"] == pacing[("total", "")]["forecast"]
    assert sum(Decimal(r["spend"]) for r in body["rows"]) == Decimal(total["spend"])
