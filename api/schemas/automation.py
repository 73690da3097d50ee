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


class AutomationState(BaseModel):
    paused: bool = Field(description="a global pause is in force: automation does nothing")
    pauses: list[PausePublic]


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
