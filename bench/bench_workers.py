"""Sync wall time on 1, 2, 4 Celery worker processes, against a platform that takes its time.

    .venv/bin/python -m bench.bench_workers [--accounts 200] [--campaigns-per-account 20]
                                            [--latency-ms 150] [--workers 1,2,4]

Each platform call of the sandbox waits ``--latency-ms`` (network and report time of a real
platform); each account costs three calls (campaigns, ad sets, the metrics window). For each
worker count, a fresh PostgreSQL schema (SQLite when PostgreSQL is unreachable) gets a first
sync of ``--history-days`` through `budgetpilot sync`'s code path with a Redis broker, while
one `budgetpilot worker --concurrency N` runs the tasks. Prints wall time, accounts per second
and the speed-up over one worker process, with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import logging
import os
import tempfile
import time
from pathlib import Path

from bench.bench_nightly import _database, _uptime
from tests.workers.processes import queue_config, redis_skip_reason, workers

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def _pg_or_sqlite() -> str:
    from sqlalchemy import text

    from bench.bench_nightly import PG_URL
    from campaigns.db import create_db_engine

    try:
        engine = create_db_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return "postgres"
    except Exception:
        return "sqlite"


def run_once(args: argparse.Namespace, concurrency: int, kind: str, tmp: Path) -> float:
    from api.cli.data import run_sync
    from campaigns.config import load_settings
    from campaigns.db import create_db_engine, ensure_schema

    source = (
        f"[sync]\nlookback_days = 7\nhistory_days = {args.history_days}\n\n[[sources]]\n"
        f'name = "sandbox"\nkind = "sandbox"\nseed = 7\naccounts = {args.accounts}\n'
        f"campaigns_per_account = {args.campaigns_per_account}\n"
        f"latency_ms = {args.latency_ms}\n"
        f'now = "{NOW.replace(tzinfo=None).isoformat()}"\n'
    )
    config = tmp / f"bench-{concurrency}.toml"
    queue_config(config, source)
    with _database(kind, tmp / str(concurrency)) as url:
        (tmp / str(concurrency)).mkdir(exist_ok=True)
        engine = create_db_engine(url)
        ensure_schema(engine)
        settings = load_settings(config)
        with workers(config, url, tmp, count=1, concurrency=concurrency):
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # one line per account
                failed = run_sync(engine, settings, now=NOW)
            wall = time.perf_counter() - start
        engine.dispose()
    if failed:
        raise SystemExit(f"{failed} accounts failed with {concurrency} workers")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--campaigns-per-account", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    reason = redis_skip_reason()
    if reason:
        raise SystemExit(reason)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")
    kind = _pg_or_sqlite()
    counts = [int(x) for x in args.workers.split(",")]
    print(f"{args.accounts} accounts x {args.campaigns_per_account} campaigns, "
          f"{args.latency_ms:g} ms per platform call, {args.history_days} days, {kind}")
    print(f"load before: {_uptime()}")
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            results[n] = run_once(args, n, kind, Path(tmp))
            speedup = results[counts[0]] / results[n]
            print(f"{n} worker processes: {results[n]:7.1f} s wall, "
                  f"{args.accounts / results[n]:6.1f} accounts/s, speed-up {speedup:4.2f}x "
                  f"over {counts[0]} ({speedup * counts[0] / n:.0%} of linear)", flush=True)
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()
