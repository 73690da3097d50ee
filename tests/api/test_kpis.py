"""GET /api/v1/kpis against hand-computed figures: FX, NULL counts, labelled reach."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session

from campaigns.ingest.metrics_store import refresh_account_days, upsert_metrics
from campaigns.models import Campaign
from campaigns.reports.kpi_math import REACH_ESTIMATE
from tests.api.factories import add_fx, create_account, create_campaign

Headers = Callable[[str], dict[str, str]]
D = dt.date


def _day(campaign: Campaign, day: dt.date, spend: str, **counts: int | None) -> dict:
    return {"campaign_id": campaign.id, "account_id": campaign.account_id, "date": day,
            "spend": Decimal(spend), "impressions": 1000, "clicks": 20,
            "conversions": Decimal(2), "revenue": Decimal("50"), **counts}


def arrange(db: Session) -> None:
    meta = create_account(db, network="meta", currency="EUR", external_id="act_1")
    google = create_account(db, network="google", currency="USD", external_id="111")
    social = create_campaign(db, account=meta, external_id="s")
    search = create_campaign(db, account=google, external_id="g")
    days = [D(2024, 3, 1), D(2024, 3, 2)]
    upsert_metrics(db, [_day(social, d, "10", reach=400, engagements=30, reactions=10,
                             comments=2, shares=4, follows=1, video_views=100) for d in days])
    upsert_metrics(db, [_day(search, d, "20") for d in days])
    for d in days:
        add_fx(db, day=d, currency="USD", quote="EUR", rate="0.5")
    refresh_account_days(db, [meta.id, google.id], days[0], days[-1])
    db.commit()


def test_kpis_by_network_and_campaign(client: TestClient, as_role: Headers, db: Session) -> None:
    arrange(db)
    url = "/api/v1/kpis?start=2024-03-01&end=2024-03-02&group_by="
    r = client.get(url + "network", headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reach_estimate"] == REACH_ESTIMATE and "1,000 impressions" in body["rate_basis"]
    rows = {x["key"]: x for x in body["data"]}
    meta = rows["meta"]
    assert meta["spend"] == "20.00" and meta["impressions"] == 2000 and meta["reach"] == 800
    assert meta["frequency"] == 2.5 and meta["cpm"] == 10.0 and meta["cpc"] == 0.5
    assert meta["ctr"] == 0.02 and meta["cpa"] == 5.0 and meta["roas"] == 5.0
    assert meta["engagement_rate"] == 30.0 and meta["amplification_rate"] == 4.0
    assert meta["applause_rate"] == 10.0 and meta["conversation_rate"] == 2.0
    assert meta["follows"] == 2 and meta["video_views"] == 200
    google = rows["google"]
    assert google["spend"] == "20.00" and google["roas"] == 2.5  # both in EUR at 0.5
    assert google["reach"] is None and google["frequency"] is None  # not reported, not 0
    assert google["engagement_rate"] is None

    total = client.get(url + "portfolio", headers=as_role("viewer")).json()["data"]
    assert [x["impressions"] for x in total] == [4000] and total[0]["reach"] == 800
    assert total[0]["spend"] == "40.00" and total[0]["roas"] == 3.75  # 150 EUR / 40
    # Google reported no engagements: its impressions do not dilute Meta's rate.
    assert total[0]["engagement_rate"] == 30.0 and total[0]["frequency"] == 2.5

    by_campaign = client.get(url + "campaign", headers=as_role("viewer")).json()["data"]
    assert [x["key"] for x in by_campaign] == ["google:111:g", "meta:act_1:s"]


def test_kpis_as_csv(client: TestClient, as_role: Headers, db: Session) -> None:
    arrange(db)
    r = client.get("/api/v1/kpis?start=2024-03-01&end=2024-03-02&group_by=network&format=csv",
                   headers=as_role("viewer"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="kpis-default-network-2024-03-01-2024-03-02.csv"' in (
        r.headers["content-disposition"])
    rows = list(csv.DictReader(io.StringIO(r.text)))
    by_key = {x["key"]: x for x in rows}
    assert by_key["meta"]["reach"] == "800" and by_key["meta"]["cpm"] == "10.0"
    assert by_key["google"]["reach"] == "" and by_key["google"]["spend"] == "20.00"


def test_kpis_refuse_a_reversed_period(client: TestClient, as_role: Headers, db: Session) -> None:
    r = client.get("/api/v1/kpis?start=2024-03-02&end=2024-03-01", headers=as_role("viewer"))
    assert r.status_code == 422
