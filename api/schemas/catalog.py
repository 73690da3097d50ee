"""The catalogue: portfolios, ad accounts, campaigns, ad sets, their daily metrics, and the
sync runs that filled them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.base import Public, Redacted


class PortfolioPublic(Public):
    id: int
    name: str
    reporting_currency: str
    daily_total: Decimal | None
    schedule: str


class PortfoliosPublic(Public):
    data: list[PortfolioPublic]
    count: int


class AccountPublic(Public):
    id: int
    portfolio_id: int
    network: str
    external_id: str
    name: str
    currency: str
    timezone: str
    source: str
    status: str


class AccountsPublic(Public):
    data: list[AccountPublic]
    count: int


class CampaignPublic(Public):
    id: int
    account_id: int
    network: str
    external_id: str
    name: str
    status: str
    effective_status: str | None
    objective: str | None
    bid_strategy: str | None
    budget_level: str
    budget_external_id: str | None
    budget_shared: bool
    daily_budget: Decimal | None
    lifetime_budget: Decimal | None
    result_kind: str | None = Field(
        None, description="what the campaign buys, as synced from the platform's objective")
    result_kind_user: str | None = Field(
        None, description="what a manager set it buys; wins over the synced one")


class CampaignsPublic(Public):
    data: list[CampaignPublic]
    count: int


class AdSetPublic(Public):
    id: int
    campaign_id: int
    external_id: str
    name: str
    status: str
    daily_budget: Decimal | None
    lifetime_budget: Decimal | None


class AdSetsPublic(Public):
    data: list[AdSetPublic]
    count: int


class MetricPointPublic(Public):
    date: dt.date
    currency: str
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    revenue: Decimal


class MetricSeriesPublic(Public):
    data: list[MetricPointPublic]
    count: int


class SyncRunPublic(Public):
    id: int
    account_id: int | None
    source: str
    stream: str
    window_start: dt.date | None
    window_end: dt.date | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows: int
    status: str
    error: Redacted | None


class SyncRunsPublic(Public):
    data: list[SyncRunPublic]
    count: int


class CampaignResultUpdate(BaseModel):
    """``PUT /campaigns/{id}/result``: what the campaign buys; null clears the manager's
    setting, so the synced result counts again."""

    model_config = {"extra": "forbid"}

    result_kind: Literal["conversions", "revenue", "reach", "engagement", "video_views"] | None
