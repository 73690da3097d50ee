"""The campaign page's data: the fitted response curve with its band and the observed days,
and the audit trail of the campaign's budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import Field

from api.schemas.base import Public


class CurvePointPublic(Public):
    budget: float
    conversions: float
    conversions_low: float
    conversions_high: float
    revenue: float
    revenue_low: float
    revenue_high: float


class UnitCurvePublic(Public):
    budget_id: str
    level: str
    status: str
    days: int
    current_budget: float
    proposed_budget: float | None
    points: list[CurvePointPublic]


class ObservedDayPublic(Public):
    date: dt.date
    daily_budget: float | None
    spend: float
    conversions: float
    revenue: float
    complete: bool
    reported: float = Field(description="the expected share of the day's final conversions "
                            "reported so far (1: complete), from the account's learnt "
                            "completion curve")
    reported_sd: float = Field(description="the uncertainty (sd) of that share")


class CompletionPublic(Public):
    network: str
    account: str | None = Field(description="null: the account reads its network's curve")
    learnt: bool = Field(description="false: the network's default (no restatement seen)")
    days: int
    observations: int
    share: dict[str, float] = Field(description="share of a day's conversions reported by age "
                                    "in days")
    share_sd: dict[str, float]


class CampaignCurvePublic(Public):
    campaign_id: int
    campaign_name: str
    currency: str
    run_id: str | None
    as_of: dt.date | None
    lag_days: int
    today: dt.date
    current_budget: float | None
    proposed_budget: float | None
    proposed_shift_id: int | None
    curves: list[UnitCurvePublic]
    observed: list[ObservedDayPublic]
    completion: CompletionPublic | None


class BudgetChangePublic(Public):
    shift_id: int
    item_id: int
    target_external_id: str
    level: str
    currency: str
    status: str
    old_budget: Decimal
    new_budget: Decimal
    applied_budget: Decimal | None
    applied_at: dt.datetime | None
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    rollback_of: int | None
    comment: str | None


class BudgetEventPublic(Public):
    at: dt.datetime
    actor: str
    action: str
    shift_id: int
    old_budget: Decimal | None
    new_budget: Decimal | None


class BudgetHistoryPublic(Public):
    campaign_id: int
    changes: list[BudgetChangePublic]
    events: list[BudgetEventPublic] | None
