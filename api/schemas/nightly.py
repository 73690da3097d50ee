"""Nightly runs as the API serves them: who ran which slot of a portfolio, how each stage
went and how long it took."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.base import RedactedData


class StepTimingPublic(BaseModel):
    step: str
    subject: str  # the source synced; empty for the portfolio's own steps
    seconds: float
    outcome: str  # succeeded | failed
    error: str | None
    detail: str


class ChangePublic(BaseModel):
    """One budget the run changed (or, dry, would change)."""

    shift: int | None
    account: str  # network:external_id
    campaign: str  # its name, else its id
    target: str  # the campaign, ad set or shared budget id
    old: Decimal
    new: Decimal
    currency: str
    outcome: str  # applied | already | would apply | failed | would fail


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
    held: list[str] = Field(default_factory=list, description="what the run left for a person "
                            "(a paused account's items, a shift waiting for a resume)")
    changes: list[ChangePublic] = Field(default_factory=list,
                                        description="each budget it changed (the first 500)")


class NightlyRunsPublic(BaseModel):
    data: list[NightlyRunPublic]
    count: int
