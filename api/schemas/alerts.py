"""Alerts: list, acknowledge, and what an evaluation created and delivered."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.base import Public, Redacted, RedactedData


class AlertPublic(Public):
    id: int
    kind: str
    severity: str
    scope: str
    scope_key: str
    condition_key: str
    message: Redacted
    details: RedactedData | None
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    delivered_at: dt.datetime | None
    delivery_attempts: int
    last_delivery_error: Redacted | None
    scope_name: str | None = Field(None, description="the account, campaign or network named "
                                   "by scope_key, when it is one")


class AlertsPublic(Public):
    data: list[AlertPublic]
    count: int


class AlertEvaluation(BaseModel):
    created: list[int]
    delivered: list[int]
    failed: list[int]
