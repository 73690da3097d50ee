"""Nightly runs, newest first, read from each run's ``nightly.finish`` audit event: the
stored run report with its holder and per-stage timings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlmodel import col

from api.deps import AuditReader, SessionDep
from api.params import Name, PageDep
from api.schemas import nightly as s
from campaigns.lookup import paginate
from campaigns.models import AuditEvent

router = APIRouter(prefix="/nightly-runs", tags=["nightly"])


@router.get("", response_model=s.NightlyRunsPublic)
def list_nightly_runs(
    session: SessionDep, _: AuditReader, page: PageDep, portfolio: Name = None,
) -> s.NightlyRunsPublic:
    """Each finished nightly run: portfolio and slot, who ran it (host and process), its
    status, and each stage's wall time and outcome (sync per source, then the steps)."""
    stmt = (select(AuditEvent).where(col(AuditEvent.entity_type) == "nightly_run",
                                     col(AuditEvent.action) == "nightly.finish")
            .order_by(col(AuditEvent.id).desc()))
    if portfolio:
        stmt = stmt.where(col(AuditEvent.entity_id).startswith(f"{portfolio}@"))
    rows, count = paginate(session, stmt, page)
    return s.NightlyRunsPublic(data=[_run(e) for e in rows], count=count)


def _run(event: AuditEvent) -> s.NightlyRunPublic:
    after: dict[str, Any] = event.after or {}
    timings = [s.StepTimingPublic(**t) for t in after.get("timings", [])]
    return s.NightlyRunPublic(
        id=event.id or 0, key=event.entity_id, portfolio=event.entity_id.split("@")[0],
        finished_at=event.at, holder=after.get("holder"), status=after.get("status", ""),
        dry_run=bool(after.get("dry_run")), shift_id=after.get("shift_id"),
        applied=after.get("applied", []), errors=after.get("errors", {}),
        seconds=round(sum(t.seconds for t in timings if not t.subject), 3), timings=timings,
        held=after.get("held", []),
        changes=[s.ChangePublic(**c) for c in after.get("changes", [])])
