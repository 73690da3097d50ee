"""Cached reads: a worker's own writes show at once; another worker's (written straight to the
database here) within [service] freshness_seconds; a token revoked elsewhere stops working
within auth_cache_seconds. The caches' clock is moved by hand: nothing here sleeps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.app import create_app
from campaigns.config import settings_from_dict
from campaigns.models import ApiToken, BudgetPlan, BudgetShift
from campaigns.reports import finance
from tests.api.conftest import SETTINGS
from tests.api.factories import (
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
    get_portfolio,
)

Headers = Callable[[str], dict[str, str]]
# long in real time, so that the background refresh (every half window) never runs during a
# test and what is served before the clock moves is the cache's doing
WINDOW = 60
PACING = "/api/v1/pacing?month=2024-01-01&as_of=2024-01-10"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def past_the_window(self) -> None:
        self.now += WINDOW + 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine: Engine, clock: Clock) -> Iterator[TestClient]:
    service = {**SETTINGS["service"], "freshness_seconds": WINDOW, "auth_cache_seconds": WINDOW}
    settings = settings_from_dict({**SETTINGS, "service": service})
    with TestClient(create_app(settings, engine, clock=clock)) as c:
        yield c


def _planned(client: TestClient, headers: dict[str, str]) -> str:
    r = client.get(PACING, headers=headers)
    assert r.status_code == 200, r.text
    return next(row["planned"] for row in r.json()["data"] if row["scope"] == "total")


def test_reports_follow_own_writes_at_once_and_others_within_the_window(
    client: TestClient, as_role: Headers, db: Session, clock: Clock
) -> None:
    camp = create_campaign(db, account=create_account(db), external_id="9")
    add_metrics(db, campaign=camp, start=dt.date(2024, 1, 1), spends=["100"] * 10)
    plan = create_plan(db, month=dt.date(2024, 1, 1), planned="3100")
    db.commit()
    viewer, finance = as_role("viewer"), as_role("finance")
    first = client.get(PACING, headers=viewer)
    assert client.get(PACING, headers=viewer).content == first.content  # served from cache

    r = client.put(f"/api/v1/plans/{plan.id}", headers=finance,
                   json={"planned_spend": "4000", "version": 1})
    assert r.status_code == 200, r.text
    assert float(_planned(client, viewer)) == 4000  # own write: at once

    db.get(BudgetPlan, plan.id).planned_spend = 5000  # type: ignore[union-attr]
    db.get(BudgetPlan, plan.id).updated_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    db.commit()  # "another worker"
    assert float(_planned(client, viewer)) == 4000  # the version is known fresh for a while
    clock.past_the_window()
    assert float(_planned(client, viewer)) == 5000


def test_shift_lists_follow_state_changes(client: TestClient, as_role: Headers, db: Session,
                                          clock: Clock) -> None:
    camp = create_campaign(db, account=create_account(db), external_id="9")
    shift = create_shift(db, campaigns=[camp], new_budgets=["105"])
    db.commit()
    listed = client.get("/api/v1/shifts?status=proposed", headers=as_role("viewer")).json()
    assert listed["count"] == 1
    r = client.post(f"/api/v1/shifts/{shift.id}/reject", headers=as_role("manager"),
                    json={"version": 1, "comment": "no"})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/shifts?status=proposed", headers=as_role("viewer")).json()["count"] == 0
    db.add(create_shift(db, campaigns=[camp], new_budgets=["95"]))
    db.commit()
    assert client.get("/api/v1/shifts?status=proposed", headers=as_role("viewer")).json()["count"] == 0
    clock.past_the_window()
    assert client.get("/api/v1/shifts?status=proposed", headers=as_role("viewer")).json()["count"] == 1
    assert db.scalars(select(BudgetShift)).all()


def test_a_token_revoked_elsewhere_stops_within_the_window(
    client: TestClient, as_role: Headers, db: Session, clock: Clock
) -> None:
    viewer = as_role("viewer")
    assert client.get("/api/v1/me", headers=viewer).status_code == 200
    row = db.exec(select(ApiToken).where(ApiToken.name == "viewer")).one()
    row.revoked_at = dt.datetime.now(dt.UTC)
    db.commit()  # `budgetpilot token revoke` in another process
    assert client.get("/api/v1/me", headers=viewer).status_code == 200  # checked a moment ago
    clock.past_the_window()
    assert client.get("/api/v1/me", headers=viewer).status_code == 401


def test_workers_share_rendered_reports(engine: Engine, as_role: Headers, db: Session,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    camp = create_campaign(db, account=create_account(db), external_id="9")
    add_metrics(db, campaign=camp, start=dt.date(2024, 1, 1), spends=["100"] * 10)
    create_plan(db, month=dt.date(2024, 1, 1), planned="3100")
    db.commit()
    settings = settings_from_dict(SETTINGS)
    url = "/api/v1/finance/spend-vs-plan?start_month=2024-01-01&end_month=2024-12-01"
    with TestClient(create_app(settings, engine, shared_cache=tmp_path)) as first:
        computed = first.get(url, headers=as_role("finance"))
    assert computed.status_code == 200, computed.text

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second worker recomputed the report")

    monkeypatch.setattr(finance, "finance_report", not_again)
    with TestClient(create_app(settings, engine, shared_cache=tmp_path)) as second:
        shared = second.get(url, headers=as_role("finance"))
        assert shared.content == computed.content
        assert second.get(url, headers=as_role("service")).status_code == 403  # not finance


def test_a_token_limited_to_portfolios_never_gets_answers_kept_for_others(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    other = get_portfolio(db, "brand-b")
    camp = create_campaign(db, account=create_account(db), external_id="9")
    add_metrics(db, campaign=camp, start=dt.date(2024, 1, 1), spends=["100"] * 10)
    create_plan(db, month=dt.date(2024, 1, 1), planned="3100")
    create_plan(db, month=dt.date(2024, 1, 1), planned="777", portfolio=other)
    db.commit()
    r = client.post("/api/v1/tokens", headers=as_role("admin"),
                    json={"name": "brand-b", "role": "viewer", "portfolios": ["brand-b"]})
    limited = {"Authorization": f"Bearer {r.json()['token']}"}
    everything = client.get(PACING, headers=as_role("viewer"))
    assert client.get(PACING, headers=as_role("viewer")).content == everything.content
    refused = client.get(PACING, headers=limited)  # the same request, kept for a global token
    assert refused.status_code == 404 and b"3100" not in refused.content
    own = f"{PACING}&portfolio=brand-b"
    first = client.get(own, headers=limited)
    assert first.status_code == 200 and client.get(own, headers=limited).content == first.content
    assert client.get(own, headers=as_role("viewer")).content == first.content  # same answer


def test_kept_answers_are_private_to_the_caller_and_revalidate(
    client: TestClient, as_role: Headers, db: Session
) -> None:
    create_plan(db, month=dt.date(2024, 1, 1), planned="3100")
    db.commit()
    viewer = as_role("viewer")
    first = client.get(PACING, headers=viewer)  # rendered
    again = client.get(PACING, headers=viewer)  # kept bytes
    for r in (first, again):
        assert r.headers["cache-control"] == "private, no-cache"
        assert r.headers["content-type"] == "application/json"
    assert first.headers["etag"] == again.headers["etag"]
    same = client.get(PACING, headers={**viewer, "If-None-Match": first.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    changed = client.get(PACING, headers={**viewer, "If-None-Match": '"older"'})
    assert changed.status_code == 200 and changed.content == first.content
