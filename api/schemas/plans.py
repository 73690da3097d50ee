"""Spend plans per month and scope (a `hard` plan is a cap the nightly run keeps)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.base import Currency, FirstOfMonth, Money, Public

PlanScope = Literal["total", "network", "account", "campaign"]


def _first_of_month(v: dt.date) -> dt.date:
    if v.day != 1:
        raise ValueError("month must be the first day of a month (YYYY-MM-01)")
    return v


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: str = Field("default", min_length=1, max_length=100)
    month: FirstOfMonth = Field(description="first day of the month, e.g. 2024-02-01")
    scope: PlanScope
    scope_key: str = Field(
        "", max_length=200,
        description="'' for total; 'meta' for a network; 'meta:act_1' for an account; "
        "'meta:act_1:123' for a campaign",
    )
    planned_spend: Money
    currency: Currency | None = Field(None, description="must be the reporting currency")
    hard: bool = Field(False, description="a cap: the nightly run lowers budgets so that "
                       "the month cannot pass it, even at the platforms' overdelivery")

    _month = field_validator("month")(_first_of_month)


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_spend: Money
    version: int = Field(ge=1, le=2**31 - 1, description="the version you read (else 409)")
    hard: bool | None = Field(None, description="make it a hard cap or not (default: as it is)")


class PlanPublic(Public):
    id: int
    portfolio_id: int
    month: dt.date
    scope: str
    scope_key: str
    currency: str
    planned_spend: Decimal
    hard: bool
    version: int
    updated_at: dt.datetime


class PlansPublic(Public):
    data: list[PlanPublic]
    count: int


class PlansImported(BaseModel):
    created: int
    updated: int
    unchanged: int
    plan_ids: list[int] = Field(description="every plan the file names, in file order")
    dry_run: bool = Field(description="true: checked and counted, nothing written")
