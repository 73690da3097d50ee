"""Fixtures for running the real SDKs against the local fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.meta import MetaConnector
from connectors.retry import RetryPolicy
from tests.connectors.fake_graph import FakeGraph


class Sleeps(list[float]):
    """Records the waits a retry loop asked for instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01, timeout=10, sleep=sleeps)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def make_meta(graph: FakeGraph, policy: RetryPolicy) -> Callable[..., MetaConnector]:
    def make(**kw: Any) -> MetaConnector:
        kw.setdefault("access_token", "good-token")
        kw.setdefault("policy", policy)
        kw.setdefault("report_poll_seconds", 0)
        return MetaConnector(base_url=graph.base_url, **kw)

    return make
