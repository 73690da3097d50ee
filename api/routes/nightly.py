"""Nightly runs, newest first: the runs in progress (their step and accounts so far, from
:mod:`campaigns.jobs.nightly_progress`), then the finished ones read from each run's
``nightly.finish`` audit event: the stored run report with its holder and per-stage timings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlmodel import Session, col

from api.deps import AuditReader, SessionDep
from api.params import Name, PageDep
from api.schemas import nightly as s
from campaigns.columns import as_utc
from campaigns.jobs import nightly_progress
from campaigns.lookup import paginate
from campaigns.models import AuditEvent, NightlyProgress

router = APIRouter(prefix="/nightly-runs", tags=["nightly"])


@router.get("", response_model=s.NightlyRunsPublic)
def list_nightly_runs(
    session: SessionDep, _: AuditReader, page: PageDep, portfolio: Name = None,
) -> s.NightlyRunsPublic:
    """Each nightly run: portfolio and slot, who runs or ran it (host and process), its state.
    A run in progress (`state` `running`) shows the step it is on and how many of its
    accounts are synced and failed so far; a finished one its status and each stage's wall
    time and outcome (sync per source and account, then the steps). Running ones come first."""
    running = nightly_progress.running(session, portfolio)
    stmt = (select(AuditEvent).where(col(AuditEvent.entity_type) == "nightly_run",
                                     col(AuditEvent.action) == "nightly.finish")
            .order_by(col(AuditEvent.id).desc()))
    if portfolio:
        stmt = stmt.where(col(AuditEvent.entity_id).startswith(f"{portfolio}@"))
    shown = running[page.offset:page.offset + page.limit]
    # The finished runs follow the running ones, as if one list.
    rest = replace(page, offset=max(0, page.offset - len(running)),
                   limit=max(1, page.limit - len(shown)))
    rows, count = paginate(session, stmt, rest)
    rows = rows[:page.limit - len(shown)]
    return s.NightlyRunsPublic(
        data=[_running(session, p) for p in shown] + [_run(e) for e in rows],
        count=count + len(running))


def _running(session: Session, p: NightlyProgress) -> s.NightlyRunPublic:
    start = session.scalar(
        select(col(AuditEvent.id)).where(col(AuditEvent.entity_type) == "nightly_run",
                                         col(AuditEvent.entity_id) == p.key,
                                         col(AuditEvent.action) == "nightly.start")
        .order_by(col(AuditEvent.id).desc()).limit(1))
    return s.NightlyRunPublic(
        id=start or 0, key=p.key, portfolio=p.portfolio, state="running", step=p.step,
        on_workers=p.on_workers, accounts_total=p.accounts_total,
        accounts_synced=p.accounts_synced, accounts_failed=p.accounts_failed,
        started_at=as_utc(p.started_at), finished_at=None, holder=p.holder or None,
        status="running", dry_run=p.key.endswith(" dry-run"), shift_id=None, applied=[],
        errors={}, seconds=0.0, timings=[])


def _run(event: AuditEvent) -> s.NightlyRunPublic:
    after: dict[str, Any] = event.after or {}
    timings = [s.StepTimingPublic(**t) for t in after.get("timings", [])]
    accounts = [t for t in timings if t.step == "sync_account"]
    failed = sum(1 for t in accounts if t.outcome == "failed")
    return s.NightlyRunPublic(
        id=event.id or 0, key=event.entity_id, portfolio=event.entity_id.split("@")[0],
        state="finished", step=None, on_workers=bool(after.get("on_workers")),
        accounts_total=len(accounts), accounts_synced=len(accounts) - failed,
        accounts_failed=failed, started_at=after.get("started_at"),
        finished_at=event.at, holder=after.get("holder"), status=after.get("status", ""),
        dry_run=bool(after.get("dry_run")), shift_id=after.get("shift_id"),
        applied=after.get("applied", []), errors=after.get("errors", {}),
        seconds=round(sum(t.seconds for t in timings if not t.subject), 3), timings=timings,
        held=after.get("held", []),
        changes=[s.ChangePublic(**c) for c in after.get("changes", [])])
