"""Full sync of N campaigns x D days through the Meta and Google Ads fakes (run on demand).

    .venv/bin/python -m bench.bench_sync [--campaigns 10000] [--days 30] [--only meta|google]
                                         [--no-postgres]

Prints, per platform: the connector alone (wall time, calls, rows/s), then the full
``sync_source`` into SQLite and into PostgreSQL (127.0.0.1:5432 db ``test``, in a schema of its
own that is dropped afterwards). Each fake runs in a process of its own on 127.0.0.1, so
the figures are the client's: SDK, connector, sync engine and database (the fakes still
share the machine's CPUs). Calls are counted on the client side, retries included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaigns.config import settings_from_dict
from campaigns.db import create_db_engine, ensure_schema
from campaigns.ingest.sync import sync_source
from connectors.google_ads import GoogleAdsConnector
from connectors.meta import MetaConnector
from connectors.retry import RetryPolicy
from tests.connectors.fake_gads import FakeGoogleAds, make_certificate
from tests.connectors.fake_graph import FakeGraph

PG_URL = os.environ.get("BUDGETPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2025, 4, 1, 12, tzinfo=dt.UTC)
POLICY = RetryPolicy(base_delay=0.01, max_delay=0.1, timeout=120)


def _meta_world(fake: FakeGraph, n: int) -> None:
    st = fake.state
    st.add_account("act_1", currency="EUR", timezone="UTC")
    for i in range(n):
        st.add_campaign("act_1", str(100_000 + i), daily_budget=5000)
    st.report_polls = 1

    def metric(cid: str, day: dt.date) -> dict[str, Any]:
        k = int(cid) + day.toordinal()
        return {
            "spend": f"{k % 97}.{k % 100:02d}",
            "impressions": str(k % 5000),
            "clicks": str(k % 90),
            "actions": [{"action_type": "purchase", "value": str(k % 7)}],
            "action_values": [{"action_type": "purchase", "value": f"{k % 300}.5"}],
        }

    st.metric_fn = metric


def _google_world(fake: FakeGoogleAds, n: int) -> None:
    st = fake.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", tz="UTC", parent="1000000001")
    for i in range(n):
        st.add_campaign(
            "2000000002",
            str(100_000 + i),
            st.add_budget("2000000002", str(900_000 + i), 50_000_000),
        )

    def metric(cust: str, cid: str, day: dt.date) -> dict[str, Any]:
        k = int(cid) + day.toordinal()
        return {
            "cost_micros": (k % 9700) * 10_000,
            "impressions": k % 5000,
            "clicks": k % 90,
            "conversions": float(k % 7),
            "value": (k % 300) + 0.5,
        }

    st.metric_fn = metric


@contextmanager
def _sqlite() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
        ensure_schema(engine)
        yield engine
        engine.dispose()


@contextmanager
def _postgres() -> Iterator[Engine]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    engine = create_db_engine(f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _line(label: str, seconds: float, rows: int, calls: int) -> None:
    print(
        f"  {label:<28} {seconds:7.2f} s  {calls:6d} calls  {rows:8d} rows  "
        f"{rows / seconds:9.0f} rows/s"
    )


def _run(name: str, kind: str, make: Callable[[], Any], days: int, postgres: bool) -> None:
    print(f"{name}:")
    connector = make()
    start = time.perf_counter()
    accounts = connector.list_accounts()
    campaigns = sum(len(connector.list_campaigns(a.external_id)) for a in accounts)
    t_entities = time.perf_counter() - start
    end = NOW.date() - dt.timedelta(days=1)
    first = end - dt.timedelta(days=days - 1)
    rows = sum(1 for a in accounts for _ in connector.daily_metrics(a.external_id, first, end))
    elapsed = time.perf_counter() - start
    print(f"  entities: {campaigns} campaigns in {t_entities:.2f} s")
    _line("connector only", elapsed, rows, connector.calls)
    settings = settings_from_dict(
        {
            "sync": {"lookback_days": 28, "history_days": days},
            "sources": [{"name": kind, "kind": kind}],
        }
    )
    targets = [("sqlite", _sqlite)] + ([("postgresql", _postgres)] if postgres else [])
    for db_name, open_db in targets:
        with open_db() as engine:
            connector = make()
            start = time.perf_counter()
            report = sync_source(engine, settings, settings.sources[0], connector, now=NOW)
            elapsed = time.perf_counter() - start
            if not report.ok:
                print(f"  {db_name}: FAILED {report.failed}")
                continue
            _line(f"full sync into {db_name}", elapsed, report.metric_rows, connector.calls)


def _serve_meta(n: int, out: Any, stop: Any) -> None:
    with FakeGraph() as graph:
        _meta_world(graph, n)
        out.put(graph.base_url)
        stop.wait()


def _serve_gads(n: int, cert: bytes, key: bytes, out: Any, stop: Any) -> None:
    with FakeGoogleAds(cert, key) as gads:
        _google_world(gads, n)
        out.put((gads.endpoint, gads.token_uri))
        stop.wait()


@contextmanager
def _fake_process(target: Callable[..., None], *args: Any) -> Iterator[Any]:
    ctx = multiprocessing.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=target, args=(*args, out, stop), daemon=True)
    proc.start()
    try:
        yield out.get(timeout=300)
    finally:
        stop.set()
        proc.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--only", choices=["meta", "google"])
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(f"{args.campaigns} campaigns x {args.days} days")
    postgres = not args.no_postgres
    if args.only in (None, "meta"):
        with _fake_process(_serve_meta, args.campaigns) as base_url:

            def make_meta() -> MetaConnector:
                return MetaConnector(
                    access_token="good-token",
                    base_url=base_url,
                    policy=POLICY,
                    page_size=500,
                    report_poll_seconds=0.05,
                    insights_chunk_days=args.days,
                )

            _run(
                "Meta (facebook-business -> Graph fake, HTTP/1.1 keep-alive)",
                "meta",
                make_meta,
                args.days,
                postgres,
            )
    if args.only in (None, "google"):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key, ca = make_certificate(Path(tmp))
            os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(ca)
            with _fake_process(_serve_gads, args.campaigns, cert, key) as (endpoint, token_uri):

                def make_gads() -> GoogleAdsConnector:
                    return GoogleAdsConnector(
                        developer_token="dev-token",
                        refresh_token="good-refresh",
                        client_id="client-id",
                        client_secret="client-secret",
                        login_customer_id="1000000001",
                        endpoint=endpoint,
                        token_uri=token_uri,
                        policy=POLICY,
                    )

                _run(
                    "Google Ads (google-ads -> gRPC fake, TLS)",
                    "google_ads",
                    make_gads,
                    args.days,
                    postgres,
                )


if __name__ == "__main__":
    main()
