"""The finance report: spend per account and month against the plans."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from api.schemas.kpis import ScopeKpis


class FinanceRow(BaseModel):
    month: dt.date
    network: str
    account: str = Field(description="network:external id")
    account_name: str
    account_currency: str
    spend_local: Decimal
    spend: Decimal | None = Field(description="in the reporting currency, rounded per row; "
                                  "null when a day of it has no FX rate (see missing_rate)")
    plan: Decimal | None = Field(description="the account-scope plan, if any")
    variance: Decimal | None = Field(description="spend - plan")
    forecast: Decimal | None = Field(None, description="end-of-month spend: what a month that "
                                     "has ended spent, pacing's forecast for the month of "
                                     "as_of, null for a month not begun")
    forecast_variance: Decimal | None = Field(None, description="forecast - plan")
    missing_rate: str | None = Field(None, description="the FX rate this row lacks, "
                                     "e.g. `SEK→EUR for 2026-11-03`; the row is left out of "
                                     "the totals")
    kpis: ScopeKpis = Field(description="the account-month's KPIs")


class FinanceTotal(BaseModel):
    month: dt.date | None
    network: str | None
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None
    forecast: Decimal | None = Field(None, description="the scope's own end-of-month forecast "
                                     "(pacing's, for the month of as_of)")
    forecast_variance: Decimal | None = None
    complete: bool = Field(True, description="false: rows below lack an FX rate and are not "
                           "in this total")
    kpis: ScopeKpis = Field(description="the KPIs of the rows below (rates from summed counts)")


class MissingRate(BaseModel):
    currency: str
    quote: str
    first_day: dt.date
    last_day: dt.date
    accounts: list[str]
    message: str


class FinanceReport(BaseModel):
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    rows: list[FinanceRow]
    network_totals: list[FinanceTotal]
    month_totals: list[FinanceTotal]
    total: FinanceTotal
    as_of: dt.date | None = Field(None, description="spend counts through this day")
    missing_rates: list[MissingRate] = Field(default_factory=list,
                                             description="FX rates to add")
    forecast_note: str | None = Field(None, description="why the month of as_of has no "
                                      "forecast, when it has none")
