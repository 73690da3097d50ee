"""Nightly runs as the API serves them: who ran which slot of a portfolio, how each stage
went and how long it took."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from api.schemas.base import RedactedData


class StepTimingPublic(BaseModel):
    step: str
    subject: str  # the source synced; empty for the portfolio's own steps
    seconds: float
    outcome: str  # succeeded | failed
    error: str | None
    detail: str


class NightlyRunPublic(BaseModel):
    id: int  # a finished run's nightly.finish audit event; a running one's nightly.start
    key: str  # portfolio@slot (a dry run's key ends in " dry-run")
    portfolio: str
    state: Literal["running", "finished"]
    step: str | None  # running: the step it is on (sync, propose, apply, ...)
    on_workers: bool  # its steps run as a Celery workflow on `budgetpilot worker` processes
    accounts_total: int  # accounts listed for its sync (so far, while running)
    accounts_synced: int
    accounts_failed: int  # named in its report and left out of what it approves
    started_at: dt.datetime | None
    finished_at: dt.datetime | None  # None while running
    holder: str | None  # host, pid and what started it (serve scheduler, budgetpilot nightly)
    status: str
    dry_run: bool
    shift_id: int | None
    applied: list[int]
    errors: RedactedData
    seconds: float  # the portfolio's steps, summed
    timings: list[StepTimingPublic]


class NightlyRunsPublic(BaseModel):
    data: list[NightlyRunPublic]
    count: int
