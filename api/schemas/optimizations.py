"""Optimisation runs: start one (`OptimizationCreate`), list and read them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Public


class OptimizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: str = Field("default", min_length=1, max_length=100)
    total_budget: float | None = Field(None, gt=0, le=1e12)
    objective: Literal["conversions", "revenue", "value"] | None = None
    max_change: float | None = Field(None, gt=0, le=10)


class OptimizationRunPublic(Public):
    id: str
    portfolio_id: int
    created_at: dt.datetime
    created_by: str
    objective: str
    currency: str
    total_budget: Decimal
    status: str
    expected_conversions: float | None
    expected_revenue: float | None
    expected_spend: float | None
    baseline_conversions: float | None
    baseline_revenue: float | None


class OptimizationRunsPublic(Public):
    data: list[OptimizationRunPublic]
    count: int


class OptimizationResult(BaseModel):
    run: OptimizationRunPublic
    shift_id: int | None
    result: dict[str, Any] = Field(description="the optimiser's JSON, as `optimize --json`")
