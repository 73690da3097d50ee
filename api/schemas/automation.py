"""The kill switch: the pauses in force, a pause request and what a resume lifted."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class PausePublic(BaseModel):
    scope: str = Field(description="global | portfolio | account")
    scope_key: str = Field(description="'' (global), a portfolio name, or network:external_id")
    reason: str
    paused_by: str
    paused_at: dt.datetime | None


class SchedulePublic(BaseModel):
    portfolio: str
    cron: str = Field(description="the portfolio's nightly schedule ([[portfolios]] schedule)")
    next_run: dt.datetime | None = Field(description="the next slot, in UTC")
    paused: bool = Field(description="a global or this portfolio's pause skips its runs")


class SchedulerPublic(BaseModel):
    enabled: bool = Field(description="serve runs the nightly itself ([scheduler] enabled); "
                          "otherwise cron runs `budgetpilot nightly`")
    timezone: str = Field(description="the time zone of the schedules")
    sync: bool
    auto_approve: bool
    apply: bool


class AutomationState(BaseModel):
    paused: bool = Field(description="a global pause is in force: automation does nothing")
    pauses: list[PausePublic]
    dry_run: bool = Field(False, description="[automation] dry_run: the nightly records what it "
                          "would apply and writes nothing to the platforms (read-only)")
    hard_stop: str = Field("lower", description="[automation] hard_stop (read-only)")
    follow_plans: bool = Field(False, description="[optimizer] follow_plans: the runs keep "
                               "planned networks and accounts on course to their plans "
                               "(read-only)")
    plan_band: float = Field(0.05, description="[optimizer] plan_band (read-only)")
    scheduler: SchedulerPublic | None = Field(None, description="[scheduler] (read-only)")
    schedules: list[SchedulePublic] = Field(default_factory=list,
                                            description="each portfolio's nightly schedule")


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: str | None = Field(None, max_length=100, description="pause one portfolio")
    account: str | None = Field(None, max_length=200,
                                description="pause one account: network:external_id")
    reason: str = Field(min_length=1, max_length=1000, description="why (audited)")


class ResumeResult(BaseModel):
    resumed: bool = Field(description="false when the scope was not paused")
    pause: PausePublic | None = Field(description="the pause lifted")
    state: AutomationState
