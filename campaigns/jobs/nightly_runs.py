"""Who ran a nightly slot, and when: read back from the run's audit events.

A run is identified by its key (portfolio and scheduled slot, :func:`run_key`). The run's
``nightly.start`` event names its holder (host and process); its ``nightly.finish`` event
closes it. Checked under the portfolio's job lock, these make one run per slot: a second
scheduler (another ``serve``, or cron) that fires for the same slot finds the run in progress
or done and does nothing. No table of its own: the audit log already holds every run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns import audit
from campaigns.db import session_scope
from campaigns.errors import BudgetPilotError
from campaigns.jobs.nightly_hard_stop import NIGHTLY
from campaigns.models import AuditEvent
from connectors.redact import redact


def run_key(portfolio: str, at: dt.datetime) -> str:
    return f"{portfolio}@{at.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}"


def audit_step(engine: Engine, key: str, step: str, after: dict[str, Any]) -> None:
    """One step of the run ``key`` in the audit log, in a unit of work of its own."""
    with session_scope(engine) as session:
        audit.record(session, actor=NIGHTLY.name, action=f"nightly.{step}",
                     entity_type="nightly_run", entity_id=key, after=after)


def error_text(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, BudgetPilotError) else f"{type(exc).__name__}: {exc}"
    return redact(text)[:2000]  # printed, audited and logged: never a secret


def this_holder(role: str = "") -> str:
    """Names this process in the run record: host, pid and what it is (``serve``, cron)."""
    who = f"{socket.gethostname()} pid {os.getpid()}"
    return f"{role} on {who}" if role else who


@dataclass(frozen=True)
class RunRecord:
    holder: str
    at: dt.datetime  # when it started (in progress) or finished
    finished: bool

    def says(self) -> str:
        at = self.at.replace(tzinfo=dt.UTC) if self.at.tzinfo is None else self.at
        when = f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
        if self.finished:
            return f"already run by {self.holder} at {when}"
        return f"already being run by {self.holder} since {when}"


def holder_of(engine: Engine, key: str, *, wait: float = 5.0) -> RunRecord | None:
    """The record of a run whose lock another process holds. That process writes its start
    just after taking the lock, so a scheduler firing at the same moment waits for it a
    little (``wait`` seconds at most) to name the holder."""
    deadline = time.monotonic() + wait
    while (seen := run_record(engine, key)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


def run_record(engine: Engine, key: str) -> RunRecord | None:
    """The latest record of the run ``key``: finished if it has a finish event, else in
    progress since its start; None when it never started."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(AuditEvent.action), col(AuditEvent.at), col(AuditEvent.after))
            .where(col(AuditEvent.entity_type) == "nightly_run",
                   col(AuditEvent.entity_id) == key,
                   col(AuditEvent.action).in_(["nightly.start", "nightly.finish"]))
            .order_by(col(AuditEvent.id).desc())
        ).all()
    finish = next((r for r in rows if r[0] == "nightly.finish"), None)
    start = next((r for r in rows if r[0] == "nightly.start"), None)
    if finish is None and start is None:
        return None
    holder = next((str((r[2] or {}).get("holder")) for r in (finish, start)
                   if r is not None and (r[2] or {}).get("holder")), "an earlier run")
    if finish is not None:
        return RunRecord(holder, finish[1], True)
    assert start is not None
    return RunRecord(holder, start[1], False)
