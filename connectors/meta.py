"""Meta (Facebook/Instagram) ads through the official ``facebook-business`` SDK.

No SDK globals: each connector builds its own ``FacebookSession`` and ``FacebookAdsApi`` and
passes ``api=`` to every object, so two sources with different tokens never mix, and
``FacebookAdsApi.init()`` (which installs a crash reporter posting to the Graph host) is never
called. Listing uses the SDK's cursors; the bulk insights rows are read from the JSON of
``api.call()`` because building one SDK object per row costs more than the request.

Money: budgets arrive as strings in the currency's minor unit, whose offset Meta sets per
currency (100 for EUR/USD, 1 for JPY, KRW, HUF...). Insights spend and action values arrive in
major units. Both become Decimal in the account currency here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign
from facebook_business.api import Cursor, FacebookAdsApi
from facebook_business.session import FacebookSession

from connectors.base import (
    AccountRecord,
    AdSetRecord,
    BudgetResult,
    BudgetTarget,
    CampaignRecord,
    ConnectorError,
    MetricRecord,
)
from connectors.errors import PartialAccountList, classify_meta, meta_usage_wait
from connectors.meta_actions import check_action_types
from connectors.meta_options import DEFAULT_API_VERSION, DEFAULT_BASE_URL, MetaOptions
from connectors.retry import RetryPolicy, call_with_retry, write_once
from connectors.settings import SettingsError, secret

log = logging.getLogger(__name__)

# Meta's own offsets (developers.facebook.com/docs/marketing-api/currencies): these currencies
# have offset 1 on Meta even where ISO 4217 gives them decimals (HUF, TWD, COP, CRC, IDR).
META_OFFSET_ONE = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)
# Without an explicit filter the edges leave out archived and deleted objects, whose spend
# still counts (a classic gap of syncs): ask for every status the SDK knows.
CAMPAIGN_STATUSES = ["ACTIVE", "PAUSED", "IN_PROCESS", "WITH_ISSUES", "ARCHIVED", "DELETED"]
ADSET_STATUSES = [*CAMPAIGN_STATUSES, "CAMPAIGN_PAUSED"]
GONE_STATUSES = frozenset({"ARCHIVED", "DELETED"})
ACCOUNT_STATUS = {
    1: "active",
    2: "disabled",
    3: "unsettled",
    7: "pending_review",
    8: "pending_settlement",
    9: "grace_period",
    100: "pending_closure",
    101: "closed",
}
CAMPAIGN_FIELDS = [
    "id",
    "name",
    "status",
    "effective_status",
    "objective",
    "bid_strategy",
    "daily_budget",
    "lifetime_budget",
]
ADSET_FIELDS = [
    "id",
    "campaign_id",
    "name",
    "status",
    "effective_status",
    "daily_budget",
    "lifetime_budget",
]
ACCOUNT_FIELDS = [
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "account_status",
    "min_daily_budget",
]
INSIGHT_FIELDS = [
    "campaign_id",
    "date_start",
    "date_stop",
    "spend",
    "impressions",
    "clicks",
    "actions",
    "action_values",
    "attribution_setting",
]


def currency_offset(currency: str, overrides: dict[str, int] | None = None) -> int:
    """How many minor units Meta counts in one unit of ``currency``."""
    code = currency.upper()
    if overrides and code in overrides:
        return int(overrides[code])
    return 1 if code in META_OFFSET_ONE else 100


def from_minor(
    value: Any, currency: str, overrides: dict[str, int] | None = None
) -> Decimal | None:
    """A Meta budget string ("1050") as Decimal in the currency (10.50 EUR, 1050 JPY)."""
    if value in (None, "", "0", 0):
        return None
    return Decimal(str(value)) / currency_offset(currency, overrides)


def to_minor(amount: Decimal, currency: str, overrides: dict[str, int] | None = None) -> int:
    """Round down to the minor unit Meta accepts: never write more than was approved."""
    offset = currency_offset(currency, overrides)
    return int((Decimal(amount) * offset).to_integral_value(rounding=ROUND_DOWN))


def act_id(account_id: str) -> str:
    account_id = str(account_id).strip()
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _usage_pct(headers: Any) -> float:
    """Highest utilisation (0-100) announced by Meta's usage headers on any response."""
    if not headers:
        return 0.0
    pcts: list[float] = []
    for name in ("x-app-usage", "x-ad-account-usage", "x-business-use-case-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        entries = [e for v in data.values() for e in v] if "business" in name else [data]
        for entry in entries:
            for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
                if isinstance(entry.get(key), int | float):
                    pcts.append(float(entry[key]))
    return max(pcts, default=0.0)


def _reject_non_json_errors(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Raise on an error status whose body is not Graph JSON (a proxy's 502 page).

    The SDK judges success by the body alone: a non-JSON error page passes as a success and
    then fails deep in its object parser with a TypeError nobody could classify.
    """
    if response.status_code >= 400 and "json" not in response.headers.get("Content-Type", ""):
        raise requests.HTTPError(
            f"HTTP {response.status_code} with a non-JSON body from {response.url.split('?')[0]}",
            response=response,
        )


class _RawRows:
    """Stands in for the SDK's ObjectParser: a page's rows as the JSON dicts they are."""

    def parse_multiple(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        return list(response.get("data") or [])


class MetaConnector:
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
        session.requests.hooks["response"].extend([self._count, _reject_non_json_errors])
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
    def from_options(cls, name: str, options: MetaOptions | dict[str, Any]) -> MetaConnector:
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
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    def _retry(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retry(fn, classify=classify_meta, policy=self.policy, what=what)

    def _pace(self, headers: Any) -> None:
        """Slow down before Meta throttles us: the usage headers say how close we are."""
        pct = _usage_pct(headers)
        if pct >= self.usage_threshold:
            wait = meta_usage_wait(headers) or self.policy.base_delay * 10
            wait = min(wait, self.policy.max_delay)
            log.warning("Meta usage at %.0f%%: pausing %.1fs before the next call", pct, wait)
            self.policy.sleep(wait)

    def _iterate(
        self, node: str, edge: str, cls: type, fields: list[str], params: dict[str, Any], what: str
    ) -> Iterator[dict[str, Any]]:
        """Rows of an edge through the SDK's cursor; a failed page load resumes from ``after``.

        A cursor only moves its ``after`` once a page has arrived, so retrying ``next()``
        resumes without a gap. Rows stay plain dicts: the SDK builds each object field by field
        (a ``dir()`` per field), which costs more than the request for 10,000 campaigns.
        """
        cursor = Cursor(
            target_objects_class=cls,
            fields=fields,
            params=params,
            api=self.api,
            node_id=node,
            endpoint=edge,
            object_parser=_RawRows(),
        )
        done = object()
        seen_headers: Any = None

        def step() -> Any:
            try:
                return next(cursor)
            except StopIteration:
                return done

        while True:
            item = self._retry(step, what)
            if item is done:
                return
            headers = cursor.headers()
            if headers is not seen_headers:  # a page was just loaded
                seen_headers = headers
                self._pace(headers)
            yield item

    def _call(self, method: str, path: tuple[str, ...], params: dict[str, Any], what: str) -> Any:
        response = self._retry(lambda: self.api.call(method, path, params=params), what)
        self._pace(response.headers())
        return response.json()

    def _pages(self, path: tuple[str, ...], params: dict[str, Any], what: str) -> Iterator[dict]:
        """Raw cursor paging: follows ``paging.cursors.after`` while ``paging.next`` exists."""
        params = dict(params)
        while True:
            body = self._call("GET", path, params, what)
            yield from body.get("data", [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params["after"] = after

    def _statuses(self, statuses: list[str] = CAMPAIGN_STATUSES) -> list[str]:
        return (
            statuses if self.include_archived else [s for s in statuses if s not in GONE_STATUSES]
        )

    # -- accounts and entities -------------------------------------------------------------

    def list_accounts(self) -> list[AccountRecord]:
        params = {"limit": self.page_size}
        if self.account_ids:
            # Each listed account is read on its own: a token revoked on one of them (190, or
            # a 200 permission error) is that account's failure, not the others'.
            rows = []
            failures: dict[str, ConnectorError] = {}
            for a in self.account_ids:
                fields = {"fields": ",".join(ACCOUNT_FIELDS)}
                try:
                    rows.append(self._call("GET", (a,), fields, f"Meta account {a}"))
                except ConnectorError as err:
                    log.error("Meta account %s: %s", a, err)
                    failures[a] = err
            if failures:
                raise PartialAccountList([self._account(row) for row in rows], failures)
        else:
            rows = list(
                self._iterate(
                    "me", "adaccounts", AdAccount, ACCOUNT_FIELDS, params, "Meta /me/adaccounts"
                )
            )
        accounts = [self._account(row) for row in rows]
        return accounts

    def _account(self, row: dict[str, Any]) -> AccountRecord:
        ext = act_id(row.get("id") or row["account_id"])
        record = AccountRecord(
            network="meta",
            external_id=ext,
            name=row.get("name", ""),
            currency=str(row.get("currency", "USD")).upper(),
            timezone=row.get("timezone_name") or "UTC",
            status=ACCOUNT_STATUS.get(int(row.get("account_status", 1)), "unknown"),
        )
        self._accounts[ext] = record
        if row.get("min_daily_budget"):
            self._account_min_budget[ext] = int(row["min_daily_budget"])
        return record

    def _account_record(self, account: str) -> AccountRecord:
        account = act_id(account)
        if account not in self._accounts:
            fields = {"fields": ",".join(ACCOUNT_FIELDS)}
            self._account(self._call("GET", (account,), fields, f"Meta account {account}"))
        return self._accounts[account]

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]:
        account = self._account_record(account_external_id)
        params = {"limit": self.page_size, "effective_status": self._statuses()}
        out = []
        for row in self._iterate(
            account.external_id,
            "campaigns",
            Campaign,
            CAMPAIGN_FIELDS,
            params,
            f"Meta campaigns of {account.external_id}",
        ):
            daily = from_minor(row.get("daily_budget"), account.currency, self.currency_offsets)
            life = from_minor(row.get("lifetime_budget"), account.currency, self.currency_offsets)
            out.append(
                CampaignRecord(
                    external_id=str(row["id"]),
                    name=row.get("name", ""),
                    status=str(row.get("status", "")).lower(),
                    effective_status=str(row.get("effective_status", "")).lower() or None,
                    objective=row.get("objective"),
                    bid_strategy=row.get("bid_strategy"),
                    # The campaign holds the budget (Advantage campaign budget) when it has
                    # one; otherwise each ad set holds its own.
                    budget_level="campaign" if daily or life else "adset",
                    daily_budget=daily,
                    lifetime_budget=life,
                    budget_external_id=str(row["id"]) if daily or life else None,
                )
            )
        return out

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]:
        account = self._account_record(account_external_id)
        params = {"limit": self.page_size, "effective_status": self._statuses(ADSET_STATUSES)}
        return [
            AdSetRecord(
                campaign_external_id=str(row["campaign_id"]),
                external_id=str(row["id"]),
                name=row.get("name", ""),
                status=str(row.get("status", "")).lower(),
                daily_budget=from_minor(
                    row.get("daily_budget"), account.currency, self.currency_offsets
                ),
                lifetime_budget=from_minor(
                    row.get("lifetime_budget"), account.currency, self.currency_offsets
                ),
            )
            for row in self._iterate(
                account.external_id,
                "adsets",
                AdSet,
                ADSET_FIELDS,
                params,
                f"Meta ad sets of {account.external_id}",
            )
        ]

    # -- insights ---------------------------------------------------------------------------

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterator[MetricRecord]:
        """Campaign-day rows, read from asynchronous report runs chunk by chunk of days."""
        account = self._account_record(account_external_id)
        seen: set[tuple[str, dt.date]] = set()
        day = start
        while day <= end:
            chunk_end = min(end, day + dt.timedelta(days=self.insights_chunk_days - 1))
            for row in self._insights(account.external_id, day, chunk_end):
                record = self._metric(row)
                key = (record.campaign_external_id, record.date)
                if key not in seen:  # a split or retried job never yields a day twice
                    seen.add(key)
                    yield record
            day = chunk_end + dt.timedelta(days=1)

    def _insight_params(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        params: dict[str, Any] = {
            "level": "campaign",
            "time_increment": 1,
            "time_range": {"since": start.isoformat(), "until": end.isoformat()},
            "fields": ",".join(INSIGHT_FIELDS),
            "filtering": [
                {"field": "campaign.effective_status", "operator": "IN", "value": self._statuses()}
            ],
            "limit": self.page_size,
        }
        if self.attribution_windows:
            params["action_attribution_windows"] = self.attribution_windows
        else:
            params["use_unified_attribution_setting"] = True
        return params

    def _insights(self, account: str, start: dt.date, end: dt.date) -> Iterator[dict[str, Any]]:
        """Rows of a completed report run (pages resume on failure), splitting failed jobs."""
        params = self._insight_params(start, end)
        what = f"Meta insights {account} {start}..{end}"
        if not self.insights_async:
            yield from self._pages((account, "insights"), params, what)
            return
        report_id = self._run_report(account, params, what)
        if report_id is None:
            if start == end:
                raise ConnectorError(
                    f"{what}: the report job failed even for one day", kind="transient"
                )
            middle = start + (end - start) // 2
            log.warning("%s: report job failed, splitting the window at %s", what, middle)
            yield from self._insights(account, start, middle)
            yield from self._insights(account, middle + dt.timedelta(days=1), end)
            return
        yield from self._pages((report_id, "insights"), {"limit": self.page_size}, what)

    def _run_report(self, account: str, params: dict[str, Any], what: str) -> str | None:
        """Start an async report run and wait for it; None when the job fails or hangs."""
        body = self._call("POST", (account, "insights"), params, what)
        report_id = str(body["report_run_id"])
        deadline = self._clock() + self.report_timeout_seconds
        fields = {"fields": "async_status,async_percent_completion"}
        while True:
            status = self._call("GET", (report_id,), fields, f"{what} report {report_id}")
            state = status.get("async_status")
            if state == "Job Completed":
                return report_id
            if state in ("Job Failed", "Job Skipped"):
                return None
            if self._clock() > deadline:
                log.warning(
                    "%s: report %s still %r after %.0fs",
                    what,
                    report_id,
                    state,
                    self.report_timeout_seconds,
                )
                return None
            self.policy.sleep(self.report_poll_seconds)

    def _metric(self, row: dict[str, Any]) -> MetricRecord:
        wanted = self.conversion_action_types
        conversions = sum(
            (
                _dec(a.get("value"))
                for a in row.get("actions") or []
                if a.get("action_type") in wanted
            ),
            Decimal(0),
        )
        revenue = sum(
            (
                _dec(a.get("value"))
                for a in row.get("action_values") or []
                if a.get("action_type") in wanted
            ),
            Decimal(0),
        )
        if row.get("attribution_setting"):
            self.attribution_setting = row["attribution_setting"]
        return MetricRecord(
            campaign_external_id=str(row["campaign_id"]),
            date=dt.date.fromisoformat(row["date_start"]),
            spend=_dec(row.get("spend")),
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            conversions=conversions,
            revenue=revenue,
        )

    # -- budgets ----------------------------------------------------------------------------

    def _node(self, target: BudgetTarget) -> Campaign | AdSet:
        if target.level == "campaign":
            return Campaign(target.external_id, api=self.api)
        if target.level == "adset":
            return AdSet(target.external_id, api=self.api)
        raise ConnectorError(f"Meta has no {target.level!r} budgets", kind="invalid")

    def _read_minor(self, target: BudgetTarget) -> tuple[int | None, int | None]:
        node = self._node(target)
        data = self._retry(
            lambda: node.api_get(fields=["daily_budget", "lifetime_budget"]),
            f"Meta read budget {target.level} {target.external_id}",
        ).export_all_data()
        daily, life = data.get("daily_budget"), data.get("lifetime_budget")
        return (
            int(daily) if daily not in (None, "", "0") else None,
            int(life) if life not in (None, "", "0") else None,
        )

    def read_budget(self, target: BudgetTarget) -> Decimal:
        daily, _ = self._read_minor(target)
        if daily is None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} holds no daily budget", kind="invalid"
            )
        return Decimal(daily) / currency_offset(target.currency, self.currency_offsets)

    def _minimum_minor(self, target: BudgetTarget) -> int:
        offset = currency_offset(target.currency, self.currency_offsets)
        floor = self._account_min_budget.get(act_id(target.account_external_id), 0)
        if self.min_daily_budget is not None:
            floor = max(
                floor, to_minor(self.min_daily_budget, target.currency, self.currency_offsets)
            )
        return floor or offset  # at least one unit of the currency

    def _check_edit_rate(self, target: BudgetTarget) -> None:
        edits = self._edits[target.external_id]
        now = self._clock()
        while edits and now - edits[0] >= 3600:
            edits.popleft()
        if len(edits) >= self.max_budget_edits_per_hour:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id}: already {len(edits)} budget edits "
                "in the last hour; Meta rate-limits budget edits, try again later",
                kind="throttled",
                retry_after=3600 - (now - edits[0]),
            )

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False
    ) -> BudgetResult:
        offset = currency_offset(target.currency, self.currency_offsets)
        wanted = to_minor(daily_budget, target.currency, self.currency_offsets)
        minimum = self._minimum_minor(target)
        if wanted < minimum:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id}: daily budget {daily_budget} "
                f"{target.currency} is below the minimum {Decimal(minimum) / offset}",
                kind="invalid",
            )
        current, lifetime = self._read_minor(target)
        if current is None and lifetime is not None:
            raise ConnectorError(
                f"Meta {target.level} {target.external_id} runs on a lifetime budget; "
                "refusing to switch it to a daily budget",
                kind="invalid",
            )
        rounded = Decimal(wanted) / offset
        if current == wanted or dry_run:
            return BudgetResult(target, daily_budget, rounded, changed=False, dry_run=dry_run)
        self._check_edit_rate(target)
        node = self._node(target)
        what = f"Meta set budget {target.level} {target.external_id}"
        # A write whose answer is lost (HTTP 500, a dropped connection) may have been applied:
        # it is read back before it is sent again, so Meta sees one edit, not three.
        write_once(
            lambda: node.api_update(params={"daily_budget": wanted}),
            lambda: self._read_minor(target)[0] == wanted,
            classify=classify_meta,
            policy=self.policy,
            what=what,
        )
        self._edits[target.external_id].append(self._clock())
        after, _ = self._read_minor(target)
        if after != wanted:
            raise ConnectorError(
                f"{what}: wrote {wanted} minor units but read back {after}", kind="fatal"
            )
        return BudgetResult(target, daily_budget, Decimal(after) / offset, changed=True)
