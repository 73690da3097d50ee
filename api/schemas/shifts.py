"""Shifts and their items: read, decide (approve, reject), apply and roll back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from api.schemas.base import Public, Redacted
from campaigns.shifts.states import ItemStatus, ShiftStatus  # the lifecycle's own enums


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
    exploration: bool = Field(False, description="the budget moves to learn the campaign's "
                              "curve (value-of-information exploration), not for today")
    binding_limit: str | None
    reason: str
    status: ItemStatus
    applied_budget: Decimal | None
    applied_at: dt.datetime | None
    attempts: int
    error: Redacted | None
    next_attempt_at: dt.datetime | None = Field(
        None, description="a failed item is tried again (by the nightly job) from then on"
    )
    comment: str | None = Field(None, description="the approver's comment on this item")
    exported_at: dt.datetime | None = Field(
        None, description="when the item was written to its platform's bulk-edit file")
    confirmed_by: str | None = Field(
        None, description="who confirmed the platform took the exported budget")
    confirmed_at: dt.datetime | None = None
    by_file: bool = Field(False, description="its network has no write connector: the budget "
                          "goes by the platform's bulk-edit file (export, then confirm)")


class ShiftPublic(Public):
    id: int
    run_id: str | None
    portfolio_id: int
    status: ShiftStatus
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
    approved_total: Decimal | None = Field(
        None, description="once decided: the daily total (reporting currency) after the "
        "approved items are applied; items not approved keep their budgets")


class ShiftDetail(ShiftPublic):
    change_fraction: float = Field(description="sum |new - old| / sum old over all items")
    items: list[ShiftItemPublic]
    rolled_back_by: list[int] = Field(
        default_factory=list, description="shifts proposed to undo this one"
    )
    awaiting_confirmation: list[int] = Field(
        default_factory=list, description="items exported to a file and not yet seen on the "
        "platform: they settle when an import or sync shows the new budget, or on confirm")


class ItemOutcome(BaseModel):
    item_id: int
    target: str = Field(description="level:platform id of the budget")
    outcome: Literal["applied", "already", "skipped", "failed", "not_attempted", "busy",
                     "would_apply", "by_file", "exported"] = Field(
        description="by_file: a network without a write connector, left to the export; "
        "exported: in a file already, awaiting confirmation")
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


class ShiftExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: str | None = Field(
        None, max_length=40, description="the network whose file to write; needed when the "
        "shift has items on several networks without a write connector")


class ShiftConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[int] | None = Field(
        None, max_length=10_000, description="confirm only these exported items (default: all)")


class ShiftConfirmResult(ShiftDetail):
    confirmed: list[int] = Field(description="items confirmed by this request")
    already: list[int] = Field(description="items settled before: nothing was written")
