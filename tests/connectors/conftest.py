"""Fixtures for running the real SDKs against the local fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.google_ads import GoogleAdsConnector
from connectors.meta import MetaConnector
from connectors.retry import RetryPolicy
from tests.connectors.fake_gads import FakeGoogleAds, make_certificate
from tests.connectors.fake_graph import FakeGraph

ROOTS_ENV = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"


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


@pytest.fixture(scope="session")
def gads_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """One CA for the whole test session: gRPC reads its roots once, at the first TLS channel."""
    import os

    cert, key, ca = make_certificate(tmp_path_factory.mktemp("gads-tls"))
    os.environ[ROOTS_ENV] = str(ca)
    return cert, key


@pytest.fixture
def gads(gads_certificate: tuple[bytes, bytes]) -> Iterator[FakeGoogleAds]:
    with FakeGoogleAds(*gads_certificate) as fake:
        yield fake


@pytest.fixture
def make_gads(gads: FakeGoogleAds, policy: RetryPolicy) -> Callable[..., GoogleAdsConnector]:
    def make(**kw: Any) -> GoogleAdsConnector:
        kw.setdefault("developer_token", "dev-token")
        kw.setdefault("refresh_token", "good-refresh")
        kw.setdefault("client_id", "client-id")
        kw.setdefault("client_secret", "client-secret")
        kw.setdefault("login_customer_id", "100-000-0001")
        kw.setdefault("policy", policy)
        return GoogleAdsConnector(endpoint=gads.endpoint, token_uri=gads.token_uri, **kw)

    return make
