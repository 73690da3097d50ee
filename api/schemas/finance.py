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
    spend: Decimal = Field(description="in the reporting currency, rounded per row")
    plan: Decimal | None = Field(description="the account-scope plan, if any")
    variance: Decimal | None
    kpis: ScopeKpis = Field(description="the account-month's KPIs")


class FinanceTotal(BaseModel):
    month: dt.date | None
    network: str | None
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None
    kpis: ScopeKpis = Field(description="the KPIs of the rows below (rates from summed counts)")


class FinanceReport(BaseModel):
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    rows: list[FinanceRow]
    network_totals: list[FinanceTotal]
    month_totals: list[FinanceTotal]
    total: FinanceTotal
