"""Schemas for shifts, optimisation runs, alerts, pacing and finance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from api.schemas import Public, Redacted, RedactedData

ShiftStatus = Literal["proposed", "approved", "rejected", "expired", "applying", "applied",
                      "partially_applied", "failed"]


class ShiftItemPublic(Public):
    id: int
    campaign_id: int
    adset_id: int | None
    level: str
    target_external_id: str
    network: str = ""
    account_external_id: str = ""
    account_name: str = ""
    campaign_external_id: str = ""
    campaign_name: str = ""
    adset_name: str | None = None
    currency: str
    old_budget: Decimal
    new_budget: Decimal
    expected_conversions_old: float | None
    expected_conversions_new: float | None
    expected_revenue_old: float | None
    expected_revenue_new: float | None
    marginal_roi: float | None
    prob_gain: float | None = Field(
        None, description="probability that the move gains against the money's use elsewhere"
    )
    effect: float | None = Field(None, description="expected effect of the move (objective units)")
    effect_low: float | None = Field(None, description="80% interval of the effect: low end")
    effect_high: float | None = Field(None, description="80% interval of the effect: high end")
    binding_limit: str | None
    reason: str
    status: str
    applied_budget: Decimal | None
    applied_at: dt.datetime | None
    attempts: int
    error: Redacted | None
    next_attempt_at: dt.datetime | None = Field(
        None, description="a failed item is tried again (by the nightly job) from then on"
    )
    comment: str | None = Field(None, description="the approver's comment on this item")


class ShiftPublic(Public):
    id: int
    run_id: str | None
    portfolio_id: int
    status: str
    version: int
    currency: str
    total_before: Decimal
    total_after: Decimal
    expected_conversions_delta: float | None
    expected_revenue_delta: float | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    comment: str | None
    rollback_of: int | None = Field(None, description="the applied shift this one undoes")


class ShiftDetail(ShiftPublic):
    change_fraction: float = Field(description="sum |new - old| / sum old over all items")
    approved_total: Decimal | None = Field(
        None, description="once decided: the daily total (reporting currency) after the "
        "approved items are applied; items not approved keep their budgets")
    items: list[ShiftItemPublic]
    rolled_back_by: list[int] = Field(
        default_factory=list, description="shifts proposed to undo this one"
    )


class ItemOutcome(BaseModel):
    item_id: int
    target: str = Field(description="level:platform id of the budget")
    outcome: Literal["applied", "already", "skipped", "failed", "not_attempted", "busy",
                     "would_apply"]
    platform_budget: Decimal | None = Field(description="what the platform held before")
    new_budget: Decimal
    error: str | None


class ShiftApplyResult(ShiftDetail):
    dry_run: bool = Field(False, description="true: nothing was written; outcomes say what "
                          "would be")
    outcomes: list[ItemOutcome] = Field(default_factory=list,
                                        description="what this request did with each item")


class ShiftRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


class ShiftsPublic(Public):
    data: list[ShiftPublic]
    count: int


class Version(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1, description="the version you read (else 409)")


# keys are item ids; stated as a pattern so that the schema says what the validator takes
ITEM_ID = r"^[0-9]{1,10}$"
ItemComments = Annotated[
    dict[Annotated[str, StringConstraints(pattern=ITEM_ID)],
         Annotated[str, Field(max_length=2000)]],
    WithJsonSchema({"type": "object", "maxProperties": 10_000,
                    "propertyNames": {"pattern": ITEM_ID},
                    "additionalProperties": {"type": "string", "maxLength": 2000}}),
]


def item_comments(comments: ItemComments | None) -> dict[int, str] | None:
    return None if comments is None else {int(k): v for k, v in comments.items()}


class ShiftApprove(Version):
    item_ids: list[int] | None = Field(
        None, max_length=10_000, description="approve only these items; the rest are rejected"
        " and keep their budgets"
    )
    comment: str | None = Field(None, max_length=2000)
    item_comments: ItemComments | None = Field(
        None, max_length=10_000, description="item id -> a comment kept on that item")


class ShiftReject(Version):
    comment: str | None = Field(None, max_length=2000)
    item_comments: ItemComments | None = Field(
        None, max_length=10_000, description="item id -> a comment kept on that item")


class OptimizationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: str = Field("default", min_length=1, max_length=100)
    total_budget: float | None = Field(None, gt=0, le=1e12)
    objective: Literal["conversions", "revenue"] | None = None
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


class AlertPublic(Public):
    id: int
    kind: str
    severity: str
    scope: str
    scope_key: str
    condition_key: str
    message: Redacted
    details: RedactedData | None
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    delivered_at: dt.datetime | None
    delivery_attempts: int
    last_delivery_error: Redacted | None
    scope_name: str | None = Field(None, description="the account, campaign or network named "
                                   "by scope_key, when it is one")


class AlertsPublic(Public):
    data: list[AlertPublic]
    count: int


class AlertEvaluation(BaseModel):
    created: list[int]
    delivered: list[int]
    failed: list[int]


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


class PacingReport(BaseModel):
    portfolio: str
    month: dt.date
    as_of: dt.date
    days_elapsed: int
    days_in_month: int
    data: list[PacingRow]


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


class FinanceTotal(BaseModel):
    month: dt.date | None
    network: str | None
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None


class FinanceReport(BaseModel):
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    rows: list[FinanceRow]
    network_totals: list[FinanceTotal]
    month_totals: list[FinanceTotal]
    total: FinanceTotal
