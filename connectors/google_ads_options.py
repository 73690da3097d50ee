"""``[[sources]] kind = "google_ads"``: the Google Ads connector's options, checked when the
config loads."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from connectors.settings import Identifier, Rate, RetryOptions

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"


class GoogleAdsOptions(RetryOptions):
    developer_token_env: str | None = None
    refresh_token_env: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    login_customer_id: Identifier | None = Field(None, description="the manager account")
    customer_ids: list[Identifier] | None = Field(
        None, description="omit to sync every client of the manager account"
    )
    endpoint: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI
    include_removed: bool = True
    min_daily_budget: Decimal | None = Field(None, ge=0)
    rate_limit_developer_token: Rate | None = Field(
        None, description='calls per window for the developer token, shared by every worker')
    rate_limit_customer: Rate | None = Field(
        None, description="calls per window per customer, shared by every worker")
    billable_units: dict[str, int] | None = Field(
        None, description="currency -> Google's billable unit in micros, where it differs"
    )
