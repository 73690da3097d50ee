"""Meta (Facebook/Instagram) ads through the official ``facebook-business`` SDK.

No SDK globals: each connector builds its own ``FacebookSession`` and ``FacebookAdsApi`` and
passes ``api=`` to every object, so two sources with different tokens never mix, and
``FacebookAdsApi.init()`` (which installs a crash reporter posting to the Graph host) is never
called. The work is split by concern: ``meta_graph`` (requests, retries, pacing, paging),
``meta_entities`` (accounts, campaigns, ad sets), ``meta_insights`` (daily metrics),
``meta_budgets`` (budget writes) and ``meta_money`` (Meta's minor units).

Money: budgets arrive as strings in the currency's minor unit, whose offset Meta sets per
currency (100 for EUR/USD, 1 for JPY, KRW, HUF...). Insights spend and action values arrive in
major units. Both become Decimal in the account currency in those modules and nowhere else.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession

from connectors.base import AccountRecord
from connectors.meta_actions import check_action_types
from connectors.meta_budgets import MetaBudgets
from connectors.meta_graph import act_id, reject_non_json_errors
from connectors.meta_insights import MetaInsights
from connectors.meta_limits import ACCOUNT, APP, MetaLimitsAdapter, app_key
from connectors.meta_options import DEFAULT_API_VERSION, DEFAULT_BASE_URL, MetaOptions
from connectors.rate_limits import PlatformLimits, rule
from connectors.retry import RetryPolicy
from connectors.settings import SettingsError, secret


class MetaConnector(MetaInsights, MetaBudgets):
    """The Meta Marketing API as a :class:`connectors.base.Connector`."""

    name = "meta"

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        account_ids: Iterable[str] | None = None,
        conversion_action_types: Iterable[str] = ("purchase",),
        attribution_windows: Iterable[str] | None = None,
        policy: RetryPolicy | None = None,
        page_size: int = 500,
        usage_threshold: float = 90.0,
        insights_async: bool = True,
        insights_chunk_days: int = 31,
        report_poll_seconds: float = 5.0,
        report_timeout_seconds: float = 900.0,
        include_archived: bool = True,
        min_daily_budget: Decimal | None = None,
        max_budget_edits_per_hour: int = 4,
        currency_offsets: dict[str, int] | None = None,
        app_secret: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        limits: PlatformLimits | None = None,
        rate_limit_app: str | None = None,
        rate_limit_account: str | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        session = FacebookSession(
            access_token=access_token, app_secret=app_secret, timeout=self.policy.timeout
        )
        session.GRAPH = base_url.rstrip("/")  # per-instance: the class default stays untouched
        session.requests.hooks["response"].extend([self._count, reject_non_json_errors])
        # Every request waits its turn under the app's and the account's shared limits.
        self.limits_adapter = MetaLimitsAdapter(
            limits or PlatformLimits(), app_key(app_secret, access_token),
            rules={APP: rule(rate_limit_app, "rate_limit_app"),
                   ACCOUNT: rule(rate_limit_account, "rate_limit_account")},
            policy=self.policy, threshold=usage_threshold)
        for prefix in ("https://", "http://"):
            session.requests.mount(prefix, self.limits_adapter)
        self.api = FacebookAdsApi(session, api_version=api_version)
        self.account_ids = [act_id(a) for a in account_ids] if account_ids else None
        self.conversion_action_types = list(conversion_action_types)
        problem = check_action_types(self.conversion_action_types)
        if problem:
            raise SettingsError(f"Meta: {problem}")
        self.attribution_windows = list(attribution_windows) if attribution_windows else None
        self.page_size = page_size
        self.usage_threshold = usage_threshold
        self.insights_async = insights_async
        self.insights_chunk_days = max(1, insights_chunk_days)
        self.report_poll_seconds = report_poll_seconds
        self.report_timeout_seconds = report_timeout_seconds
        self.include_archived = include_archived
        self.min_daily_budget = min_daily_budget
        self.max_budget_edits_per_hour = max_budget_edits_per_hour
        self.currency_offsets = {k.upper(): int(v) for k, v in (currency_offsets or {}).items()}
        self._clock = clock
        self._accounts: dict[str, AccountRecord] = {}
        self._account_min_budget: dict[str, int] = {}
        self._edits: dict[str, deque[float]] = defaultdict(deque)
        self.calls = 0  # requests sent, retries included (for the benchmark and logs)
        self.attribution_setting: str | None = None  # as reported by the last insights rows

    @classmethod
    def from_settings(cls, source: Any) -> MetaConnector:
        """The connector of a ``[[sources]]`` entry (its ``name`` and ``options``)."""
        return cls.from_options(source.name, source.options)

    @classmethod
    def from_options(
        cls, name: str, options: MetaOptions | dict[str, Any], limits: PlatformLimits | None = None
    ) -> MetaConnector:
        o = MetaOptions.model_validate(options)
        app_secret = secret(o.app_secret_env, "Meta app secret") if o.app_secret_env else None
        return cls(
            access_token=secret(o.access_token_env, f"source {name}: access token"),
            base_url=o.base_url,
            api_version=o.api_version,
            account_ids=o.account_ids,
            conversion_action_types=o.conversion_action_types,
            attribution_windows=o.attribution_windows,
            policy=o.retry_policy(),
            page_size=o.page_size,
            usage_threshold=o.usage_threshold_pct,
            insights_async=o.insights_async,
            insights_chunk_days=o.insights_chunk_days,
            report_poll_seconds=o.report_poll_seconds,
            report_timeout_seconds=o.report_timeout_seconds,
            include_archived=o.include_archived,
            min_daily_budget=o.min_daily_budget,
            max_budget_edits_per_hour=o.max_budget_edits_per_hour,
            currency_offsets=o.currency_offsets,
            app_secret=app_secret,
            limits=limits,
            rate_limit_app=o.rate_limit_app,
            rate_limit_account=o.rate_limit_account,
        )
