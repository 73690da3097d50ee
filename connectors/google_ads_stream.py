"""The Google Ads API plumbing: one channel per service, SearchStream reads with retries.

The v26 methods have no default timeout or retry: every call passes ``timeout=`` and retries
are ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from google.ads.googleads.client import GoogleAdsClient
from limits import RateLimitItem

from connectors import deadline
from connectors.base import ConnectorError
from connectors.errors import classify_google
from connectors.rate_limits import PlatformLimits, Scope
from connectors.retry import RetryPolicy, call_with_retry, retry_wait

API_VERSION = "v26"
TOKEN, CUSTOMER = "google_token", "google_customer"


def customer_id(value: str) -> str:
    digits = re.sub(r"\D", "", str(value))
    if not digits:
        raise ConnectorError(f"not a Google Ads customer id: {value!r}", kind="invalid")
    return digits


def enum_name(message: Any, field: str) -> str:
    """The name of an enum field of a raw protobuf message ("ENABLED")."""
    value = getattr(message, field)
    if hasattr(value, "name"):  # proto-plus enum
        return str(value.name)
    try:
        enum = message.DESCRIPTOR.fields_by_name[field].enum_type
        return str(enum.values_by_number[value].name)
    except (KeyError, AttributeError):
        return str(value)


class GoogleAdsStreams:
    """GAQL queries sent through ``GoogleAdsService.SearchStream``."""

    client: GoogleAdsClient
    policy: RetryPolicy
    calls: int  # requests sent, retries included (for the benchmark and logs)
    _services: dict[str, Any]
    limits: PlatformLimits
    token_key: str  # names the developer token without it
    rate_rules: dict[str, RateLimitItem | None]

    def _turn(self, customer: str, what: str) -> None:
        """Wait out the token's and the customer's pauses and budgets (shared by workers)."""
        self.limits.wait_turn(self._scopes(customer), what, rules=self.rate_rules,
                              sleep=self.policy.sleep, max_wait=self.policy.max_retry_after)

    def _scopes(self, customer: str) -> list[Scope]:
        return [(TOKEN, self.token_key), (CUSTOMER, customer)]

    def _note(self, exc: BaseException, customer: str) -> None:
        """A RESOURCE_EXHAUSTED answer with its retry delay pauses every worker: the whole
        developer token for its daily quota (``RESOURCE_EXHAUSTED``), else the customer
        (``RESOURCE_TEMPORARILY_EXHAUSTED``, a bare gRPC RESOURCE_EXHAUSTED)."""
        err = classify_google(exc)
        if err.kind != "throttled" or not err.retry_after:
            return
        token_wide = "quota_error.RESOURCE_EXHAUSTED" in str(err)
        scope = (TOKEN, self.token_key) if token_wide else (CUSTOMER, customer)
        self.limits.pause(scope, err.retry_after, str(err)[:200])

    def _service(self, name: str) -> Any:
        # Each get_service opens a channel: keep one per service for the connector's life.
        if name not in self._services:
            self._services[name] = self.client.get_service(name, version=API_VERSION)
        return self._services[name]

    def _stream(
        self, customer: str, query: str, what: str, key: Callable[[Any], Any]
    ) -> Iterator[Any]:
        """Rows (raw protobuf) of a SearchStream, retried on throttling and transient failures.

        A stream can break after many rows (INTERNAL mid-stream); it is then read again from
        the start and rows already yielded (by ``key``) are skipped, so nothing is lost or
        yielded twice.
        """
        service = self._service("GoogleAdsService")
        seen: set[Any] = set()
        attempt = 0
        while True:
            attempt += 1
            try:
                self._turn(customer, what)
                self.calls += 1
                stream = service.search_stream(
                    customer_id=customer, query=query, timeout=self.policy.timeout
                )
                for batch in stream:
                    for row in batch._pb.results:
                        k = key(row)
                        if k not in seen:
                            seen.add(k)
                            yield row
                return
            except Exception as exc:  # classified by retry_wait; the unretryable re-raise
                self._note(exc, customer)
                wait = retry_wait(
                    exc, attempt, classify=classify_google, policy=self.policy, what=what
                )
                deadline.sleep(wait, what, self.policy.sleep)

    def _rows(self, customer: str, query: str, what: str) -> list[Any]:
        """All rows of a small query, read again whole when the stream breaks."""
        return call_with_retry(
            lambda: list(self._stream_once(customer, query, what)),
            classify=classify_google,
            policy=self.policy,
            what=what,
        )

    def _stream_once(self, customer: str, query: str, what: str) -> Iterator[Any]:
        self._turn(customer, what)
        self.calls += 1
        try:
            stream = self._service("GoogleAdsService").search_stream(
                customer_id=customer, query=query, timeout=self.policy.timeout
            )
            for batch in stream:
                yield from batch._pb.results
        except Exception as exc:  # noted for every worker, then retried by the caller
            self._note(exc, customer)
            raise
