"""Rows stored before redaction existed (or by another tool) still leave the API redacted."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from campaigns.columns import utcnow
from campaigns.models import Alert, AuditEvent, SyncRun

RAW = ("Max retries exceeded with url: /v26.0/me/adaccounts?access_token=EAAGm0PX4ZCpsBAPlanted"
       "&appsecret_proof=5f1d9a0c; retry with Authorization: Bearer bp_PlantedPlantedPlanted123")
HIDDEN = ("EAAGm0PX4ZCpsBAPlanted", "5f1d9a0c", "bp_PlantedPlantedPlanted123")


def test_stored_raw_errors_are_redacted_on_the_way_out(
    client: TestClient, db: Session, as_role: Callable[[str], dict[str, str]],
) -> None:
    db.add(SyncRun(source="meta", stream="accounts", status="failed", error=RAW,
                   finished_at=utcnow()))
    db.add(Alert(kind="sync_failed", severity="critical", condition_key="k1", message=RAW,
                 details={"error": RAW}, last_delivery_error=RAW))
    db.add(AuditEvent(actor="nightly", action="shift_item.failed", entity_type="shift_item",
                      entity_id="1", after={"status": "failed", "error": RAW}))
    db.commit()
    for path, role in (("/api/v1/sync-runs", "viewer"), ("/api/v1/alerts", "viewer"),
                       ("/api/v1/audit", "admin")):
        r = client.get(path, headers=as_role(role))
        assert r.status_code == 200, r.text
        assert "access_token=[redacted]" in r.text
        assert [h for h in HIDDEN if h in r.text] == [], (path, r.text)
