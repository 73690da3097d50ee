"""The campaign page's data: the fitted response curve with its band and the observed days,
and the audit trail of the campaign's budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

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
