"""The Graph API plumbing of the Meta connector: requests, retries and paging.

No SDK globals: each connector builds its own ``FacebookSession`` and ``FacebookAdsApi`` and
passes ``api=`` to every object, so two sources with different tokens never mix. Listing uses
the SDK's cursors; the bulk insights rows are read from the JSON of ``api.call()`` because
building one SDK object per row costs more than the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import requests
from facebook_business.api import Cursor, FacebookAdsApi

from connectors.errors import classify_meta
from connectors.retry import RetryPolicy, call_with_retry

# One logger for the whole connector: its messages keep the name they have always carried.
log = logging.getLogger("connectors.meta")


def act_id(account_id: str) -> str:
    account_id = str(account_id).strip()
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def reject_non_json_errors(response: requests.Response, *args: Any, **kwargs: Any) -> None:
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


class MetaGraph:
    """Requests to the Graph API, retried and paged; paced by :mod:`connectors.meta_limits`."""

    api: FacebookAdsApi
    policy: RetryPolicy
    calls: int  # requests sent, retries included (for the benchmark and logs)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    def _retry(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retry(fn, classify=classify_meta, policy=self.policy, what=what)

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

        def step() -> Any:
            try:
                return next(cursor)
            except StopIteration:
                return done

        while True:
            item = self._retry(step, what)
            if item is done:
                return
            yield item

    def _call(self, method: str, path: tuple[str, ...], params: dict[str, Any], what: str) -> Any:
        response = self._retry(lambda: self.api.call(method, path, params=params), what)
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
