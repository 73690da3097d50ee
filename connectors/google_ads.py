"""Google Ads through the official ``google-ads`` SDK (API v26, gRPC).

The client is built by hand: ``GoogleAdsClient.load_from_dict`` refreshes the token at once
against Google's hard-coded token URI, so the OAuth ``Credentials`` are constructed here with a
configurable ``token_uri`` and the endpoint can point at staging or a local fake. The v26
methods have no default timeout or retry: every call passes ``timeout=`` and retries are ours
(``google_ads_stream``).

Money arrives as ``*_micros`` integers (10^6 per unit) and must be written back as a multiple
of the currency's billable unit (``google_ads_money``). A budget can be shared by several
campaigns: it is then one decision (level ``shared``, external id = budget id), and a
per-campaign change to it is refused rather than silently moving the other campaigns' budgets
(``google_ads_budgets``, written through ``google_ads_mutate``). Reads are in
``google_ads_queries``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from google.ads.googleads.client import GoogleAdsClient
from google.oauth2.credentials import Credentials

from connectors.base import AccountRecord
from connectors.google_ads_budgets import GoogleAdsBudgets
from connectors.google_ads_options import DEFAULT_TOKEN_URI, GoogleAdsOptions
from connectors.google_ads_queries import GoogleAdsQueries
from connectors.google_ads_stream import API_VERSION, CUSTOMER, TOKEN, customer_id
from connectors.rate_limits import PlatformLimits, rule
from connectors.retry import RetryPolicy
from connectors.settings import secret


class GoogleAdsConnector(GoogleAdsQueries, GoogleAdsBudgets):
    """Google Ads as a :class:`connectors.base.Connector`."""

    name = "google_ads"

    def __init__(
        self,
        *,
        developer_token: str,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        login_customer_id: str | None = None,
        customer_ids: Iterable[str] | None = None,
        endpoint: str | None = None,
        token_uri: str = DEFAULT_TOKEN_URI,
        policy: RetryPolicy | None = None,
        include_removed: bool = True,
        min_daily_budget: Decimal | None = None,
        billable_units: dict[str, int] | None = None,
        client_factory: Callable[..., GoogleAdsClient] = GoogleAdsClient,
        limits: PlatformLimits | None = None,
        rate_limit_developer_token: str | None = None,
        rate_limit_customer: str | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        # Google's limits are per developer token and per customer: shared by every worker.
        self.limits = limits or PlatformLimits()
        self.token_key = hashlib.sha256(developer_token.encode()).hexdigest()[:16]
        self.rate_rules = {
            TOKEN: rule(rate_limit_developer_token, "rate_limit_developer_token"),
            CUSTOMER: rule(rate_limit_customer, "rate_limit_customer"),
        }
        credentials = Credentials(
            None,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            token_uri=token_uri,
        )
        self.login_customer_id = customer_id(login_customer_id) if login_customer_id else None
        self.client = client_factory(
            credentials=credentials,
            developer_token=developer_token,
            endpoint=endpoint,
            login_customer_id=self.login_customer_id,
            version=API_VERSION,
            use_proto_plus=True,
        )
        self.customer_ids = [customer_id(c) for c in customer_ids] if customer_ids else None
        self.include_removed = include_removed
        self.min_daily_budget = min_daily_budget
        self.billable_units = {k.upper(): int(v) for k, v in (billable_units or {}).items()}
        self._services: dict[str, Any] = {}
        self._accounts: dict[str, AccountRecord] = {}
        self.calls = 0

    @classmethod
    def from_settings(cls, source: Any) -> GoogleAdsConnector:
        """The connector of a ``[[sources]]`` entry (its ``name`` and ``options``)."""
        return cls.from_options(source.name, source.options)

    @classmethod
    def from_options(
        cls, name: str, options: GoogleAdsOptions | dict[str, Any],
        limits: PlatformLimits | None = None,
    ) -> GoogleAdsConnector:
        o = GoogleAdsOptions.model_validate(options)
        what = f"source {name}"
        return cls(
            developer_token=secret(o.developer_token_env, f"{what}: developer token"),
            refresh_token=secret(o.refresh_token_env, f"{what}: OAuth refresh token"),
            client_id=secret(o.client_id_env, f"{what}: OAuth client id"),
            client_secret=secret(o.client_secret_env, f"{what}: OAuth client secret"),
            login_customer_id=o.login_customer_id,
            customer_ids=o.customer_ids,
            endpoint=o.endpoint,
            token_uri=o.token_uri,
            policy=o.retry_policy(),
            include_removed=o.include_removed,
            min_daily_budget=o.min_daily_budget,
            billable_units=o.billable_units,
            limits=limits,
            rate_limit_developer_token=o.rate_limit_developer_token,
            rate_limit_customer=o.rate_limit_customer,
        )
