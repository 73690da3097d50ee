"""``[[sources]] kind = "meta"``: the Meta connector's options, checked when the config loads."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from connectors.meta_actions import check_action_types
from connectors.settings import Identifier, Rate, RetryOptions

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"


class MetaOptions(RetryOptions):
    access_token_env: str | None = Field(
        None, description="environment variable holding a system-user token with ads_management"
    )
    app_secret_env: str | None = Field(None, description="signs calls with appsecret_proof")
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    account_ids: list[Identifier] | None = Field(
        None, description="omit to sync every account the token reaches"
    )
    conversion_action_types: list[str] = Field(default_factory=lambda: ["purchase"])
    attribution_windows: list[str] | None = None
    page_size: int = Field(500, ge=1, le=5000)
    usage_threshold_pct: float = Field(90, ge=0, le=100)
    rate_limit_app: Rate | None = Field(
        None, description='calls per window for the app, shared by every worker ("200/minute")')
    rate_limit_account: Rate | None = Field(
        None, description="calls per window per ad account, shared by every worker")
    insights_async: bool = True
    insights_chunk_days: int = Field(31, ge=1)
    report_poll_seconds: float = Field(5, ge=0)
    report_timeout_seconds: float = Field(900, gt=0)
    include_archived: bool = True
    min_daily_budget: Decimal | None = Field(None, ge=0)
    max_budget_edits_per_hour: int = Field(4, ge=0)
    currency_offsets: dict[str, int] | None = None

    @field_validator("conversion_action_types")
    @classmethod
    def _counted_once(cls, types: list[str]) -> list[str]:
        """Refuse a list that would count one conversion twice (a total and its parts)."""
        if not types or not all(t.strip() for t in types):
            raise ValueError(f"a non-empty list of Meta action types, got {types!r}")
        problem = check_action_types(types)
        if problem:
            raise ValueError(problem)
        return types
