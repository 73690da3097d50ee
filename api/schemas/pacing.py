"""The pacing report: each plan's spend to date against its month."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.kpis import ScopeKpis


class PacingRow(BaseModel):
    scope: str
    scope_key: str
    scope_name: str | None = Field(None, description="the account or campaign name (the "
                                   "network itself, or \"total\")")
    currency: str
    planned: Decimal
    spend_to_date: Decimal
    expected_to_date: Decimal
    forecast: Decimal
    run_rate: Decimal
    pace_ratio: float | None = Field(description="spend to date / expected to date")
    forecast_ratio: float | None = Field(description="forecast / plan")
    status: Literal["on_track", "under", "over", "no_plan"]
    forecast_low: Decimal = Field(description="the forecast's 80% range, low end")
    forecast_high: Decimal = Field(description="the forecast's 80% range, high end")
    forecast_method: Literal["budgets", "run_rate"] = Field(
        description="budgets: daily budgets x delivery ratio; run_rate: no budgets known")
    kpis: ScopeKpis = Field(description="month to date (to as_of): reach, engagement and cost "
                            "rates of the scope")


class PacingReport(BaseModel):
    portfolio: str
    month: dt.date
    as_of: dt.date
    days_elapsed: int
    days_in_month: int
    data: list[PacingRow]
