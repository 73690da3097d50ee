"""Spend caps and locks per network, account or campaign, read by every optimisation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Money, Public

CapScope = Literal["network", "account", "campaign"]


class CapFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_daily: Money | None = None
    max_daily: Money | None = None
    max_change: float | None = Field(None, gt=0, le=10, description="fraction per run")
    locked: bool = False


class CapCreate(CapFields):
    portfolio: str = Field("default", min_length=1, max_length=100)
    scope: CapScope
    scope_key: str = Field("", max_length=200)


class CapUpdate(CapFields):
    version: int = Field(ge=1, le=2**31 - 1)


class CapPublic(Public):
    id: int
    portfolio_id: int
    scope: str
    scope_key: str
    min_daily: Decimal | None
    max_daily: Decimal | None
    max_change: float | None
    locked: bool
    version: int
    updated_at: dt.datetime


class CapsPublic(Public):
    data: list[CapPublic]
    count: int
