"""What the fake Google Ads platform holds (customers, budgets, campaigns, metrics) and the
faults a test makes it answer with, in the wire form of the real API's errors."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

MetricFn = Callable[[str, str, dt.date], dict[str, Any] | None]


def failure(
    field_name: str,
    enum_name: str,
    message: str,
    *,
    retry_delay: float | None = None,
    index: int | None = None,
) -> Any:
    """A GoogleAdsFailure (raw protobuf) with one error, e.g. ("quota_error", "RESOURCE_EXHAUSTED")."""
    pb = GoogleAdsFailure.pb()()
    error = pb.errors.add()
    enum = error.error_code.DESCRIPTOR.fields_by_name[field_name].enum_type
    setattr(error.error_code, field_name, enum.values_by_name[enum_name].number)
    error.message = message
    if retry_delay is not None:
        error.details.quota_error_details.retry_delay.FromNanoseconds(int(retry_delay * 1e9))
    if index is not None:
        element = error.location.field_path_elements.add()
        element.field_name = "operations"
        element.index = index
    return pb


@dataclass
class GFault:
    """Fail the next ``times`` calls of ``method`` after ``after_rows`` rows have been sent."""

    method: str
    code: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED
    error: tuple[str, str] | None = ("quota_error", "RESOURCE_EXHAUSTED")
    message: str = "Too many requests"
    retry_delay: float | None = None
    after_rows: int = 0
    times: int = 1
    customer: str | None = None
    match: str | None = None  # a fragment of the query
    # A mutate that is applied and whose answer is then lost (UNAVAILABLE, a dropped stream).
    after_apply: bool = False


@dataclass
class OpRejection:
    """Reject the operations on one budget the next ``times`` mutates (partial failure)."""

    customer: str
    budget: str
    error: tuple[str, str] = ("database_error", "CONCURRENT_MODIFICATION")
    message: str = "Multiple requests were attempting to modify the same resource at once."
    times: int = 1


@dataclass
class GadsState:
    developer_token: str = "dev-token"
    refresh_tokens: set[str] = field(default_factory=lambda: {"good-refresh"})
    client_id: str = "client-id"
    client_secret: str = "client-secret"
    issued: set[str] = field(default_factory=set)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    budgets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ad_groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    metrics: dict[tuple[str, str, dt.date], dict[str, Any]] = field(default_factory=dict)
    metric_fn: MetricFn | None = None
    faults: list[GFault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    token_requests: int = 0
    mutations: list[tuple[str, str, int, bool]] = field(default_factory=list)
    rejections: list[OpRejection] = field(default_factory=list)
    mutate_requests: list[list[str]] = field(default_factory=list)  # budget ids per request
    # (customer, budget id) -> the micros the platform keeps when that budget is written
    stored_instead: dict[tuple[str, str], int] = field(default_factory=dict)
    seen_metadata: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Separate sequences, far apart: a budget and a campaign never share a number.
    _budget_ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_400_000_001))
    _campaign_ids: Iterator[int] = field(default_factory=lambda: itertools.count(21_000_000_001))

    # -- building a world ------------------------------------------------------------------

    def add_customer(
        self,
        cid: str,
        *,
        currency: str = "EUR",
        tz: str = "Europe/Berlin",
        manager: bool = False,
        parent: str | None = None,
        status: str = "ENABLED",
    ) -> str:
        self.customers[cid] = {
            "name": f"Customer {cid}",
            "currency": currency,
            "tz": tz,
            "manager": manager,
            "parent": parent,
            "status": status,  # ENABLED | CANCELED | SUSPENDED | CLOSED
        }
        return cid

    def add_budget(
        self, cust: str, bid: str | None, amount_micros: int, *, shared: bool = False
    ) -> str:
        """A campaign budget; ``bid`` None draws a fresh id from the budgets' own sequence."""
        bid = bid or str(next(self._budget_ids))
        if (cust, bid) in self.campaigns:
            raise ValueError(f"budget id {bid} is a campaign id: on Google Ads they differ")
        self.budgets[(cust, bid)] = {"amount_micros": amount_micros, "shared": shared}
        return bid

    def add_campaign(
        self, cust: str, cid: str | None, budget: str, *, status: str = "ENABLED",
        channel: str = "SEARCH", bidding: str = "MAXIMIZE_CONVERSIONS",
    ) -> str:
        """A campaign drawing on ``budget``; ``cid`` None draws a fresh campaign id."""
        cid = cid or str(next(self._campaign_ids))
        if (cust, cid) in self.budgets:
            raise ValueError(f"campaign id {cid} is a budget id: on Google Ads they differ")
        if (cust, budget) not in self.budgets:
            raise ValueError(f"no campaign budget {budget} in customer {cust}")
        self.campaigns[(cust, cid)] = {
            "name": f"Campaign {cid}",
            "status": status,
            "budget": budget,
            "channel": channel,
            "bidding": bidding,
        }
        return cid

    def set_metric(
        self,
        cust: str,
        cid: str,
        day: dt.date,
        *,
        cost_micros: int,
        impressions: int = 0,
        clicks: int = 0,
        conversions: float = 0.0,
        value: float = 0.0,
        engagements: int = 0,
        video_views: int = 0,
    ) -> None:
        self.metrics[(cust, cid, day)] = {
            "cost_micros": cost_micros,
            "impressions": impressions,
            "clicks": clicks,
            "conversions": conversions,
            "value": value,
            "engagements": engagements,
            "video_trueview_views": video_views,
        }

    def reject(self, cust: str, budget: str, **kw: Any) -> OpRejection:
        rejection = OpRejection(cust, budget, **kw)
        with self.lock:
            self.rejections.append(rejection)
        return rejection

    def applied_mutations(self) -> Counter[tuple[str, str]]:
        """How many times each (customer, budget) was really changed (validate-only excluded)."""
        return Counter((c, b) for c, b, _, validate in self.mutations if not validate)

    def fail(self, method: str, **kw: Any) -> GFault:
        fault = GFault(method=method, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reference_count(self, cust: str, bid: str) -> int:
        return self.reference_counts(cust).get(bid, 0)

    def reference_counts(self, cust: str) -> Counter[str]:
        return Counter(row["budget"] for (c, _), row in self.campaigns.items() if c == cust)

    def unit_micros(self, cust: str) -> int:
        currency = self.customers[cust]["currency"]
        return 1_000_000 if currency in {"JPY", "KRW", "HUF", "CLP"} else 10_000

    def metric(self, cust: str, cid: str, day: dt.date) -> dict[str, Any] | None:
        if self.metric_fn is not None:
            return self.metric_fn(cust, cid, day)
        return self.metrics.get((cust, cid, day))


def budget_path(cust: str, bid: str) -> str:
    return f"customers/{cust}/campaignBudgets/{bid}"


def budget_key(resource_name: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"customers/(\d+)/campaignBudgets/(\d+)", resource_name)
    return (m.group(1), m.group(2)) if m else None
