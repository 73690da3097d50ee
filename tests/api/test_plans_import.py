"""POST /api/v1/plans/import: finance uploads the month's plans as the CSV they keep."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.api.factories import create_account, get_portfolio

FILE = ("month,scope,scope_key,planned_spend,hard\n2026-12,total,,30000,yes\n"
        "2026-12,network,meta,\"12,000.00\",\n")


def _csv(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "text/csv"}


def test_finance_uploads_plans_dry_run_first_and_a_viewer_may_not(
    client: TestClient, db: Session, as_role: Callable[[str], dict[str, str]]
) -> None:
    get_portfolio(db)
    create_account(db, network="meta", external_id="act_1")
    db.commit()
    dry = client.post("/api/v1/plans/import?dry_run=true", content=FILE,
                      headers=_csv(as_role("finance")))
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"plan_ids": []} == {"created": 2, "updated": 0, "unchanged": 0,
                                              "plan_ids": [], "dry_run": True}
    assert client.get("/api/v1/plans", headers=as_role("viewer")).json()["count"] == 0
    done = client.post("/api/v1/plans/import", content=FILE, headers=_csv(as_role("finance")))
    assert done.status_code == 200, done.text
    assert (done.json()["created"], done.json()["dry_run"]) == (2, False)
    listed = client.get("/api/v1/plans", headers=as_role("viewer")).json()
    assert {(p["scope"], p["scope_key"], float(p["planned_spend"]), p["hard"])
            for p in listed["data"]} == {("total", "", 30000.0, True),
                                         ("network", "meta", 12000.0, False)}
    again = client.post("/api/v1/plans/import", content=FILE, headers=_csv(as_role("finance")))
    assert again.json()["unchanged"] == 2
    refused = client.post("/api/v1/plans/import", content=FILE, headers=_csv(as_role("viewer")))
    assert refused.status_code == 403


def test_a_bad_upload_is_a_422_naming_line_and_column_and_writes_nothing(
    client: TestClient, db: Session, as_role: Callable[[str], dict[str, str]]
) -> None:
    get_portfolio(db)
    db.commit()
    bad = FILE.replace("2026-12,network,meta", "2026-12,network,snapchat")
    answer = client.post("/api/v1/plans/import", content=bad, headers=_csv(as_role("finance")))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "line 3, column scope_key" in answer.json()["detail"]
    # each problem by line and column too, for a page to show without parsing the text
    [where] = answer.json()["lines"]
    assert (where["line"], where["column"]) == (3, "scope_key") and "snapchat" in where["msg"]
    assert client.get("/api/v1/plans", headers=as_role("viewer")).json()["count"] == 0
    binary = client.post("/api/v1/plans/import", content=b"\xff\xfe\x00bad",
                         headers=_csv(as_role("finance")))
    assert binary.status_code == 422
    unknown = client.post("/api/v1/plans/import?portfolio=nope", content=FILE,
                          headers=_csv(as_role("finance")))
    assert unknown.status_code == 404
