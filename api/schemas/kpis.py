"""The KPI report: counts, money and rates per campaign, account, network or portfolio."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

PER_1000 = "per 1,000 impressions (of the rows that reported the count)"


class KpiRow(BaseModel):
    key: str = Field(description="network:account[:campaign], the network, or the portfolio")
    name: str | None
    spend: Decimal = Field(description="in the reporting currency")
    impressions: int
    clicks: int
    conversions: Decimal
    revenue: Decimal = Field(description="in the reporting currency")
    reach: int | None = Field(description="sum of daily reach: an estimate (see reach_estimate)"
                              "; null when no platform reported reach")
    video_views: int | None
    engagements: int | None
    reactions: int | None = Field(description="applause")
    comments: int | None = Field(description="conversation")
    shares: int | None = Field(description="amplification")
    follows: int | None = Field(description="fan growth: new follows or page likes")
    frequency: float | None = Field(description="impressions (of rows with reach) / reach; "
                                    "summed reach, so a lower bound of the true frequency")
    cpm: float | None = Field(description="spend per 1,000 impressions")
    cpc: float | None = Field(description="spend per click")
    ctr: float | None = Field(description="clicks / impressions, a fraction")
    cpa: float | None = Field(description="spend per conversion")
    roas: float | None = Field(description="revenue / spend")
    engagement_rate: float | None = Field(description=f"engagements {PER_1000}")
    amplification_rate: float | None = Field(description=f"shares {PER_1000}")
    applause_rate: float | None = Field(description=f"reactions {PER_1000}")
    conversation_rate: float | None = Field(description=f"comments {PER_1000}")


class KpiReport(BaseModel):
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    group_by: str
    reach_estimate: str = Field(description="how reach was obtained; it is not unique reach")
    rate_basis: str = Field(description="what the social rates are relative to")
    data: list[KpiRow]
