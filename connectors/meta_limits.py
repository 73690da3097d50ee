"""Meta's rate limits, shared across processes: every Graph request waits its turn first.

Mounted as the requests adapter of a connector's session, so every request the SDK sends
(cursor pages, report polls, budget writes) goes through it. Before a request: wait out any
pause on the app and on the ad account, and take a call from their budgets
(``rate_limit_app``, ``rate_limit_account``). The account is the ``act_…`` in the path, or,
for a request to a campaign's or ad set's own id (a budget read or write), the account the
connector names around the call (:meth:`MetaLimitsAdapter.on_behalf_of`): Meta counts those
against the account too. After it, Meta's usage headers
(https://developers.facebook.com/docs/graph-api/overview/rate-limiting):

- ``x-app-usage`` ``{"call_count", "total_cputime", "total_time"}`` (percent of the app's
  rolling hour) at or over the threshold pauses the app;
- ``x-ad-account-usage`` ``{"acc_id_util_pct", "reset_time_duration"}`` pauses the account
  for ``reset_time_duration`` seconds;
- ``x-business-use-case-usage`` ``{"<account id>": [{"type", "call_count", ...,
  "estimated_time_to_regain_access"}]}`` pauses each named account for that many minutes;
- a throttled error (code 4: the app; 17, 613, 80000–80014: the account) pauses its scope
  for the wait the headers give.

A pause is seen by every worker sharing the storage, so none calls or retries early.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlparse

import requests
from limits import RateLimitItem
from requests.adapters import HTTPAdapter

from connectors.errors import META_THROTTLE_CODES, meta_usage_wait
from connectors.rate_limits import PlatformLimits, Scope
from connectors.retry import RetryPolicy

APP, ACCOUNT = "meta_app", "meta_account"
# The ad account a request without ``act_…`` in its path is made for (per thread and task).
_ACCOUNT_OF_CALL: ContextVar[str | None] = ContextVar("meta_account_of_call", default=None)


def app_key(app_secret: str | None, access_token: str) -> str:
    """Names the app without its secret: tokens of one app share its budget."""
    return hashlib.sha256((app_secret or access_token).encode()).hexdigest()[:16]


def _json(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _pct(entry: Any, keys: tuple[str, ...]) -> float:
    if not isinstance(entry, dict):
        return 0.0
    return max((float(entry[k]) for k in keys if isinstance(entry.get(k), int | float)),
               default=0.0)


def _act(node: str) -> str:
    return node if node.startswith("act_") else f"act_{node}"


class MetaLimitsAdapter(HTTPAdapter):
    """Waits for its turn before each Graph request and records Meta's pauses after it."""

    def __init__(
        self, limits: PlatformLimits, app: str, *, rules: Mapping[str, RateLimitItem | None],
        policy: RetryPolicy, threshold: float,
    ) -> None:
        super().__init__()
        self.limits, self.app, self.rules = limits, app, dict(rules)
        self.policy, self.threshold = policy, threshold

    @staticmethod
    @contextmanager
    def on_behalf_of(account: str) -> Iterator[None]:
        """Requests in the block that name no account in their path (a campaign's or ad
        set's id) count against ``account``'s budget and pauses as well as the app's."""
        token = _ACCOUNT_OF_CALL.set(_act(account))
        try:
            yield
        finally:
            _ACCOUNT_OF_CALL.reset(token)

    def _scopes(self, url: str) -> list[Scope]:
        parts = [p for p in urlparse(url).path.split("/") if p][1:]
        scopes: list[Scope] = [(APP, self.app)]
        account = parts[0] if parts and parts[0].startswith("act_") else _ACCOUNT_OF_CALL.get()
        if account:
            scopes.append((ACCOUNT, account))
        return scopes

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        scopes = self._scopes(request.url or "")
        what = f"Meta {request.method} {(request.url or '').split('?')[0]}"
        self.limits.wait_turn(scopes, what, rules=self.rules, sleep=self.policy.sleep,
                              max_wait=self.policy.max_retry_after)
        response = super().send(request, *args, **kwargs)
        self.observe(response, scopes)
        return response

    def _fallback(self) -> float:
        # Usage over the threshold without a time to wait: the pause the pacing always took.
        return min(self.policy.base_delay * 10, self.policy.max_delay)

    def observe(self, response: requests.Response, scopes: list[Scope]) -> None:
        headers = response.headers
        account = next((s for s in scopes if s[0] == ACCOUNT), None)
        app_usage = _json(headers, "x-app-usage")
        if _pct(app_usage, ("call_count", "total_cputime", "total_time")) >= self.threshold:
            self.limits.pause((APP, self.app), self._fallback(), f"x-app-usage {app_usage}")
        acc_usage = _json(headers, "x-ad-account-usage")
        if account and _pct(acc_usage, ("acc_id_util_pct",)) >= self.threshold:
            reset = float(acc_usage.get("reset_time_duration") or 0) or self._fallback()
            self.limits.pause(account, reset, f"x-ad-account-usage {acc_usage}")
        buc = _json(headers, "x-business-use-case-usage")
        if isinstance(buc, dict):
            for whose, entries in buc.items():
                for e in entries if isinstance(entries, list) else []:
                    minutes = float(_pct(e, ("estimated_time_to_regain_access",)))
                    over = _pct(e, ("call_count", "total_cputime", "total_time"))
                    if minutes > 0 or over >= self.threshold:
                        self.limits.pause((ACCOUNT, _act(str(whose))),
                                          minutes * 60 or self._fallback(),
                                          f"x-business-use-case-usage {e.get('type')}")
        if response.status_code >= 400:
            self._throttled(response, account)

    def _throttled(self, response: requests.Response, account: Scope | None) -> None:
        try:
            code = (response.json().get("error") or {}).get("code")
        except ValueError:
            return
        if code not in META_THROTTLE_CODES:
            return
        wait = meta_usage_wait(response.headers)
        if not wait:
            return  # no time given: each caller's own backoff
        scope = (APP, self.app) if code == 4 or account is None else account
        self.limits.pause(scope, wait, f"Meta error {code}")
