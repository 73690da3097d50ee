"""Response and request schemas: one family per entity (``XPublic``, ``XsPublic{data,count}``,
``XCreate``, ``XUpdate``). Money is a Decimal, rendered as a string so that it stays exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from api.params import DAY_SCHEMA, YEARS
from connectors.redact import redact, redact_data

Day = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31),
                               json_schema_extra=DAY_SCHEMA)]
FirstOfMonth = Annotated[dt.date, Field(
    ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31),
    json_schema_extra={**DAY_SCHEMA, "pattern": f"^{YEARS}-(0[1-9]|1[0-2])-01$"})]


def _decimal_schema(whole: int, places: int, *, positive: bool = False) -> WithJsonSchema:
    """What an exact amount looks like on the wire: a decimal string (``"12.50"``) or a
    whole number, with the digits the validators allow (floats are accepted but not promised:
    a binary fraction rarely has the few decimal places an amount may carry)."""
    text = (rf"^([1-9]\d{{0,{whole - 1}}}(\.\d{{1,{places}}})?|0\.\d{{0,{places - 1}}}[1-9])$"
            if positive else rf"^\d{{1,{whole}}}(\.\d{{1,{places}}})?$")
    return WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": text},
        {"type": "integer", "minimum": int(positive), "maximum": 10**whole - 1},
    ]}, mode="validation")


Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6), _decimal_schema(12, 6)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")]
# Text that may quote a platform failure (errors, alert messages, audit details): checked for
# secrets once more on its way out, whatever was stored before redaction existed.
Redacted = Annotated[str, AfterValidator(redact)]
RedactedData = Annotated[dict[str, Any], AfterValidator(redact_data)]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        """SQLite hands timestamps back naive; they are UTC (RFC 3339 wants the offset)."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class PrincipalPublic(Public):
    name: str
    role: str
    portfolios: list[str] | None = Field(None, description="null: every portfolio")
    actions: list[str] = Field(default_factory=list, description="what this role may do "
                               "(the dashboard shows only the buttons for these)")


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


class AuditEventPublic(Public):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: RedactedData | None
    after: RedactedData | None


class AuditEventsPublic(Public):
    data: list[AuditEventPublic]
    count: int


# --- plans -------------------------------------------------------------------------------------

PlanScope = Literal["total", "network", "account", "campaign"]
CapScope = Literal["network", "account", "campaign"]


def _first_of_month(v: dt.date) -> dt.date:
    if v.day != 1:
        raise ValueError("month must be the first day of a month (YYYY-MM-01)")
    return v


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: str = Field("default", min_length=1, max_length=100)
    month: FirstOfMonth = Field(description="first day of the month, e.g. 2024-02-01")
    scope: PlanScope
    scope_key: str = Field(
        "", max_length=200,
        description="'' for total; 'meta' for a network; 'meta:act_1' for an account; "
        "'meta:act_1:123' for a campaign",
    )
    planned_spend: Money
    currency: Currency | None = Field(None, description="must be the reporting currency")
    hard: bool = Field(False, description="a cap: the nightly run lowers budgets so that "
                       "the month cannot pass it, even at the platforms' overdelivery")

    _month = field_validator("month")(_first_of_month)


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_spend: Money
    version: int = Field(ge=1, le=2**31 - 1, description="the version you read (else 409)")
    hard: bool | None = Field(None, description="make it a hard cap or not (default: as it is)")


class PlanPublic(Public):
    id: int
    portfolio_id: int
    month: dt.date
    scope: str
    scope_key: str
    currency: str
    planned_spend: Decimal
    hard: bool
    version: int
    updated_at: dt.datetime


class PlansPublic(Public):
    data: list[PlanPublic]
    count: int


class PlansImported(BaseModel):
    created: int
    updated: int
    unchanged: int
    plan_ids: list[int] = Field(description="every plan the file names, in file order")
    dry_run: bool = Field(description="true: checked and counted, nothing written")


# --- caps --------------------------------------------------------------------------------------


class CapFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_daily: Money | None = None
    max_daily: Money | None = None
    max_change: float | None = Field(None, gt=0, le=10, description="fraction per run")
    locked: bool = False


class CapCreate(CapFields):
    portfolio: str = Field("default", min_length=1, max_length=100)
    scope: CapScope
    scope_key: str = Field("", max_length=200)


class CapUpdate(CapFields):
    version: int = Field(ge=1, le=2**31 - 1)


class CapPublic(Public):
    id: int
    portfolio_id: int
    scope: str
    scope_key: str
    min_daily: Decimal | None
    max_daily: Decimal | None
    max_change: float | None
    locked: bool
    version: int
    updated_at: dt.datetime


class CapsPublic(Public):
    data: list[CapPublic]
    count: int


# --- FX ----------------------------------------------------------------------------------------


class FxRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day
    currency: Currency
    quote: Currency
    rate: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=10),
                    _decimal_schema(10, 10, positive=True)]


class FxRatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: list[FxRateIn] = Field(min_length=1, max_length=10_000)


class FxRatePublic(Public):
    date: dt.date
    currency: str
    quote: str
    rate: Decimal


class FxRatesPublic(Public):
    data: list[FxRatePublic]
    count: int


# --- tokens ------------------------------------------------------------------------------------


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Literal["viewer", "finance", "manager", "admin", "service"]
    portfolios: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=100,
        description="limit the token to these portfolios (omitted: every portfolio; an admin "
        "token is always global)")


class TokenPublic(Public):
    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    portfolios: list[str] | None = Field(None, description="null: every portfolio")


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; store it now")


class TokensPublic(Public):
    data: list[TokenPublic]
    count: int
