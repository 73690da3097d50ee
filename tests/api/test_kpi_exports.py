"""The finance and pacing exports carry the KPI report's figures for the same scope, after
their own columns; a rate over nothing is empty; reach says whether it is estimated."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session

from campaigns.ingest.metrics_store import refresh_account_days, upsert_metrics
from campaigns.models import Campaign, PeriodReach
from campaigns.reports.kpi_units import KPI_COLUMNS
from tests.api.factories import add_fx, create_account, create_campaign, create_sync_run

Headers = Callable[[str], dict[str, str]]
D = dt.date
FINANCE_COLUMNS = ["level", "month", "network", "account", "account_name", "account_currency",
                   "spend_local", "spend_eur", "plan", "variance", "forecast",
                   "forecast_variance", "note"]
DAYS = [D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 3)]


def _day(campaign: Campaign, day: dt.date, spend: str, impressions: int = 1000,
         clicks: int = 20, conversions: int = 2, **counts: int | None) -> dict:
    return {"campaign_id": campaign.id, "account_id": campaign.account_id, "date": day,
            "spend": Decimal(spend), "impressions": impressions, "clicks": clicks,
            "conversions": Decimal(conversions), "revenue": Decimal("50"), **counts}


def arrange(db: Session) -> dict[str, int]:
    """Two Meta accounts (EUR, one with two campaigns) and a Google one (USD at 0.5 EUR)."""
    meta = create_account(db, network="meta", currency="EUR", external_id="act_1")
    meta2 = create_account(db, network="meta", currency="EUR", external_id="act_2")
    google = create_account(db, network="google", currency="USD", external_id="111")
    a = create_campaign(db, account=meta, external_id="a")
    b = create_campaign(db, account=meta, external_id="b")
    c = create_campaign(db, account=meta2, external_id="c")
    g = create_campaign(db, account=google, external_id="g")
    upsert_metrics(db, [_day(a, d, "10.33", reach=400 + i, engagements=31, reactions=7,
                             comments=3, shares=5, follows=1) for i, d in enumerate(DAYS)])
    upsert_metrics(db, [_day(b, d, "4.10", impressions=700, clicks=9, reach=300,
                             engagements=12) for d in DAYS])
    upsert_metrics(db, [_day(c, d, "7.77", impressions=333, clicks=3, reach=111,
                             shares=2) for d in DAYS])
    upsert_metrics(db, [_day(g, d, "20.01", impressions=1200, clicks=41) for d in DAYS])
    for d in DAYS:
        add_fx(db, day=d, currency="USD", quote="EUR", rate="0.5")
    refresh_account_days(db, [meta.id, meta2.id, google.id], DAYS[0], DAYS[-1])
    db.commit()
    assert meta.id and meta2.id
    return {"meta": meta.id, "meta2": meta2.id}


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _kpi_csv(client: TestClient, headers: dict[str, str], group_by: str,
             start: str = "2024-03-01", end: str = "2024-03-31") -> dict[str, dict[str, str]]:
    r = client.get(f"/api/v1/kpis?start={start}&end={end}&group_by={group_by}&format=csv",
                   headers=headers)
    assert r.status_code == 200, r.text
    return {row["key"]: row for row in _csv(r.text)}


def _kpis(row: dict[str, str]) -> dict[str, str]:
    return {k: row[k] for k in KPI_COLUMNS}


def test_finance_csv_kpi_columns_agree_with_the_kpi_report(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    arrange(db)
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-03-01&end_month=2024-03-01"
                   "&format=csv", headers=as_role("finance"))
    assert r.status_code == 200, r.text
    header = r.text.splitlines()[0].split(",")
    assert header == FINANCE_COLUMNS + list(KPI_COLUMNS)  # the old columns stay first
    rows = _csv(r.text)
    viewer = as_role("viewer")

    by_account = _kpi_csv(client, viewer, "account")
    accounts = {x["account"]: x for x in rows if x["level"] == "account"}
    assert set(accounts) == set(by_account) == {"meta:act_1", "meta:act_2", "google:111"}
    for key, row in accounts.items():
        assert _kpis(row) == _kpis(by_account[key]), key
    by_network = _kpi_csv(client, viewer, "network")
    for row in (x for x in rows if x["level"] == "network"):
        assert _kpis(row) == _kpis(by_network[row["network"]]), row["network"]
    [portfolio] = _kpi_csv(client, viewer, "portfolio").values()
    [month] = [x for x in rows if x["level"] == "month"]
    [total] = [x for x in rows if x["level"] == "total"]
    assert _kpis(month) == _kpis(total) == _kpis(portfolio)

    # Rates are computed from the summed counts, not averaged over accounts or days.
    meta = next(x for x in rows if x["level"] == "network" and x["network"] == "meta")
    spend = Decimal("10.33") * 3 + Decimal("4.10") * 3 + Decimal("7.77") * 3
    impressions = (1000 + 700 + 333) * 3
    assert Decimal(meta["cpm"]) == round(spend / impressions * 1000, 6)
    assert Decimal(meta["ctr"]) == round(Decimal((20 + 9 + 3) * 3) / impressions, 6)
    assert meta["reach"] == str((400 + 401 + 402) + 300 * 3 + 111 * 3)
    assert meta["reach_estimated"] == "true"  # summed days: no period figure stored
    assert meta["follows"] == "3"
    google = accounts["google:111"]
    assert google["reach"] == google["reach_estimated"] == google["engagement_rate"] == ""
    # revenue and spend both in EUR at the day's rate
    assert Decimal(google["roas"]) == round(Decimal(150) / (Decimal("20.01") * 3), 6)


def test_a_rate_whose_denominator_is_zero_is_empty(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    account = create_account(db, network="tiktok", currency="EUR", external_id="tt_1")
    c = create_campaign(db, account=account, external_id="z")
    upsert_metrics(db, [_day(c, DAYS[0], "5.00", impressions=0, clicks=0, conversions=0,
                             reach=0, engagements=0)])
    refresh_account_days(db, [account.id], DAYS[0], DAYS[0])
    db.commit()
    r = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-03-01&end_month=2024-03-01"
                   "&format=csv", headers=as_role("finance"))
    [row] = [x for x in _csv(r.text) if x["level"] == "account"]
    # spend with no impressions, clicks or conversions: no CPM, CPC, CTR or CPA, not 0
    for name in ("cpm", "cpc", "ctr", "cpa", "frequency", "engagement_rate"):
        assert row[name] == "", name
    assert Decimal(row["roas"]) == 10  # revenue 50 on spend 5
    assert row["reach"] == "0" and row["spend_eur"] == "5.00"

    body = client.get("/api/v1/finance/spend-vs-plan?start_month=2024-03-01"
                      "&end_month=2024-03-01", headers=as_role("finance")).json()
    kpis = body["rows"][0]["kpis"]
    assert kpis["cpm"] is None and kpis["cpa"] is None and kpis["roas"] == 10.0


def test_period_reach_is_used_where_stored_and_sums_are_labelled_estimated(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    ids = arrange(db)
    # The platform's own count for act_1 over the days it delivered (each person once).
    db.add(PeriodReach(account_id=ids["meta"], start=D(2024, 3, 1), end=D(2024, 3, 3),
                       reach=950, impressions=5100))
    create_sync_run(db, account=None)  # as a sync stores it: the reports' data changed
    db.commit()
    url = "/api/v1/finance/spend-vs-plan?start_month=2024-03-01&end_month=2024-03-01"
    body = client.get(url, headers=as_role("finance")).json()
    rows = {r["account"]: r["kpis"] for r in body["rows"]}
    assert rows["meta:act_1"]["reach"] == 950 and rows["meta:act_1"]["reach_estimated"] is False
    assert rows["meta:act_1"]["frequency"] == round(5100 / 950, 6)
    assert rows["meta:act_2"]["reach"] == 333 and rows["meta:act_2"]["reach_estimated"] is True
    meta = next(t for t in body["network_totals"] if t["network"] == "meta")["kpis"]
    assert meta["reach"] == 950 + 333 and meta["reach_estimated"] is True  # two accounts
    assert rows["google:111"]["reach"] is None and rows["google:111"]["reach_estimated"] is None

    by_account = client.get("/api/v1/kpis?start=2024-03-01&end=2024-03-31&group_by=account",
                            headers=as_role("viewer")).json()["data"]
    kpi = {r["key"]: r for r in by_account}
    assert kpi["meta:act_1"]["reach"] == 950 and kpi["meta:act_1"]["reach_estimated"] is False
    assert kpi["meta:act_2"]["reach_estimated"] is True

    # A stored period that misses a day with reach does not stand for the report's period.
    db.add(PeriodReach(account_id=ids["meta2"], start=D(2024, 3, 1), end=D(2024, 3, 2),
                       reach=200, impressions=666))
    create_sync_run(db, account=None)
    db.commit()
    body = client.get(url, headers=as_role("finance")).json()
    rows = {r["account"]: r["kpis"] for r in body["rows"]}
    assert rows["meta:act_2"]["reach"] == 333 and rows["meta:act_2"]["reach_estimated"] is True


def test_pacing_json_and_csv_carry_month_to_date_kpis(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    arrange(db)
    viewer = as_role("viewer")
    url = "/api/v1/pacing?month=2024-03-01&as_of=2024-03-02"
    body = client.get(url, headers=viewer).json()
    scopes = {(r["scope"], r["scope_key"]): r for r in body["data"]}
    by_account = _kpi_csv(client, viewer, "account", end="2024-03-02")
    act_1 = scopes[("account", "meta:act_1")]["kpis"]
    assert str(act_1["cpm"]) == by_account["meta:act_1"]["cpm"]
    assert act_1["reach"] == 400 + 401 + 300 * 2 and act_1["reach_estimated"] is True

    r = client.get(url + "&format=csv", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="pacing-default-2024-03-2024-03-02.csv"' in r.headers["content-disposition"]
    header = r.text.splitlines()[0].split(",")
    assert header[:4] == ["scope", "scope_key", "scope_name", "currency"]
    assert header[-len(KPI_COLUMNS):] == list(KPI_COLUMNS)
    rows = {(x["scope"], x["scope_key"]): x for x in _csv(r.text)}
    for key, row in by_account.items():
        assert _kpis(rows[("account", key)]) == _kpis(row), key
    [portfolio] = _kpi_csv(client, viewer, "portfolio", end="2024-03-02").values()
    assert _kpis(rows[("total", "")]) == _kpis(portfolio)
