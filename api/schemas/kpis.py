"""The KPI report: counts, money and rates per campaign, account, network or portfolio."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

PER_1000 = "per 1,000 impressions (of the rows that reported the count)"
REACH_ESTIMATED = (
    "false: reach is the platform's own count of people over the period (each once); true: "
    "a sum of daily, campaign or account reach, an upper bound; null: no reach reported")


class KpiRow(BaseModel):
    key: str = Field(description="network:account[:campaign], the network, or the portfolio")
    name: str | None
    spend: Decimal = Field(description="in the reporting currency")
    impressions: int
    clicks: int
    conversions: Decimal
    revenue: Decimal = Field(description="in the reporting currency")
    reach: int | None = Field(description="the platform's unique reach of the period where "
                              "the sync stored it (reach_estimated false), else the sum of "
                              "daily reach, an estimate; null when no platform reported reach")
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
    reach_estimated: bool | None = Field(
        None, description=REACH_ESTIMATED)


class ScopeKpis(BaseModel):
    """The KPI columns of the finance and pacing reports, over the row's scope and period."""

    reach: int | None = Field(description="people reached: the platform's own figure for the "
                              "period, or an estimate (reach_estimated)")
    reach_estimated: bool | None = Field(description=REACH_ESTIMATED)
    frequency: float | None = Field(description="impressions / reach")
    engagement_rate: float | None = Field(description=f"engagements {PER_1000}")
    amplification_rate: float | None = Field(description=f"shares {PER_1000}")
    applause_rate: float | None = Field(description=f"reactions {PER_1000}")
    conversation_rate: float | None = Field(description=f"comments {PER_1000}")
    follows: int | None = Field(description="fan growth: new follows or page likes")
    cpm: float | None = Field(description="spend per 1,000 impressions")
    cpc: float | None = Field(description="spend per click")
    ctr: float | None = Field(description="clicks / impressions, a fraction")
    cpa: float | None = Field(description="spend per conversion")
    roas: float | None = Field(description="revenue / spend")


class KpiReport(BaseModel):
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    group_by: str
    reach_estimate: str = Field(description="what an estimated reach (reach_estimated true) "
                                "is; it is not unique reach")
    rate_basis: str = Field(description="what the social rates are relative to")
    data: list[KpiRow]
