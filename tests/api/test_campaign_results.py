"""A manager says what a campaign buys over the API and the CLI; it wins over the synced
result, clears back to it, is audited, and a bad result is a 422 / exit 2 naming the kinds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from campaigns.models import AuditEvent, Campaign
from tests.api.cli.conftest import group_runner
from tests.api.factories import create_account, create_campaign

Headers = Callable[[str], dict[str, str]]


def _brand(db: Session) -> Campaign:
    account = create_account(db, network="meta", external_id="act_42")
    campaign = create_campaign(db, account=account, external_id="777", name="Brand")
    campaign.objective, campaign.result_kind = "OUTCOME_AWARENESS", "reach"
    db.add(campaign)
    db.commit()
    return campaign


def test_a_manager_sets_and_clears_a_campaigns_result(
    client: TestClient, as_role: Headers, db: Session,
) -> None:
    campaign = _brand(db)
    url = f"/api/v1/campaigns/{campaign.id}/result"
    r = client.put(url, json={"result_kind": "engagement"}, headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert (r.json()["result_kind"], r.json()["result_kind_user"]) == ("reach", "engagement")
    shown = client.get(f"/api/v1/campaigns/{campaign.id}", headers=as_role("viewer")).json()
    assert shown["result_kind_user"] == "engagement"
    assert client.put(url, json={"result_kind": None},
                      headers=as_role("manager")).json()["result_kind_user"] is None
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "campaign.set_result")
                     .order_by(AuditEvent.id)).all()
    assert [e.after["result_kind_user"] for e in events] == ["engagement", None]
    assert events[0].actor == "manager"


def test_bad_results_and_roles_are_refused(
    client: TestClient, as_role: Headers, db: Session,
) -> None:
    campaign = _brand(db)
    url = f"/api/v1/campaigns/{campaign.id}/result"
    bad = client.put(url, json={"result_kind": "likes"}, headers=as_role("manager"))
    assert bad.status_code == 422 and "reach" in bad.text
    assert client.put(url, json={"result_kind": "reach"},
                      headers=as_role("viewer")).status_code == 403
    assert client.put("/api/v1/campaigns/999999/result", json={"result_kind": "reach"},
                      headers=as_role("manager")).status_code == 404


def test_the_cli_sets_lists_and_clears(
    db: Session, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = _brand(db)
    run = group_runner(db_url, tmp_path, monkeypatch, "campaigns")
    done = run("set-result", "meta:act_42:777", "video_views", "--as", "fiona")
    assert done.exit_code == 0, done.output
    assert "buys video_views (set; synced: reach)" in done.stdout
    listed = run("results")
    assert "meta:act_42:777" in listed.stdout and "video_views" in listed.stdout
    cleared = run("set-result", str(campaign.id), "synced")
    assert cleared.exit_code == 0 and "buys reach (synced)" in cleared.stdout
    wrong = run("set-result", "meta:act_42:777", "likes")
    assert wrong.exit_code == 2 and "conversions, revenue, reach" in wrong.stderr
    missing = run("set-result", "meta:act_42:nope", "reach")
    assert missing.exit_code == 2 and "no campaign 'meta:act_42:nope'" in missing.stderr
    actors = [e.actor for e in db.exec(select(AuditEvent).where(
        AuditEvent.action == "campaign.set_result"))]
    assert actors == ["fiona", actors[1]] and len(actors) == 2
