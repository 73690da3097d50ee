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

from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession

from campaigns.config import SourceSettings, secret
from campaigns.errors import ConfigError
from connectors.base import AccountRecord
from connectors.meta_actions import check_action_types
from connectors.meta_budgets import MetaBudgets
from connectors.meta_graph import act_id, reject_non_json_errors
from connectors.meta_insights import MetaInsights
from connectors.retry import RetryPolicy

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"


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
    ) -> None:
        self.policy = policy or RetryPolicy()
        session = FacebookSession(
            access_token=access_token, app_secret=app_secret, timeout=self.policy.timeout
        )
        session.GRAPH = base_url.rstrip("/")  # per-instance: the class default stays untouched
        session.requests.hooks["response"].extend([self._count, reject_non_json_errors])
        self.api = FacebookAdsApi(session, api_version=api_version)
        self.account_ids = [act_id(a) for a in account_ids] if account_ids else None
        self.conversion_action_types = list(conversion_action_types)
        problem = check_action_types(self.conversion_action_types)
        if problem:
            raise ConfigError(f"Meta: {problem}")
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
    def from_settings(cls, source: SourceSettings) -> MetaConnector:
        o = source.options
        app_secret = (
            secret(o["app_secret_env"], "Meta app secret") if o.get("app_secret_env") else None
        )
        min_budget = o.get("min_daily_budget")
        return cls(
            access_token=secret(o.get("access_token_env"), f"source {source.name}: access token"),
            base_url=o.get("base_url", DEFAULT_BASE_URL),
            api_version=o.get("api_version", DEFAULT_API_VERSION),
            account_ids=o.get("account_ids"),
            conversion_action_types=o.get("conversion_action_types", ["purchase"]),
            attribution_windows=o.get("attribution_windows"),
            policy=RetryPolicy.from_options(o),
            page_size=int(o.get("page_size", 500)),
            usage_threshold=float(o.get("usage_threshold_pct", 90)),
            insights_async=bool(o.get("insights_async", True)),
            insights_chunk_days=int(o.get("insights_chunk_days", 31)),
            report_poll_seconds=float(o.get("report_poll_seconds", 5)),
            report_timeout_seconds=float(o.get("report_timeout_seconds", 900)),
            include_archived=bool(o.get("include_archived", True)),
            min_daily_budget=Decimal(str(min_budget)) if min_budget is not None else None,
            max_budget_edits_per_hour=int(o.get("max_budget_edits_per_hour", 4)),
            currency_offsets=o.get("currency_offsets"),
            app_secret=app_secret,
        )
