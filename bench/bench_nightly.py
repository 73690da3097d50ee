"""The nightly job over a large sandbox: wall time per stage and peak memory (run on demand).

    .venv/bin/python -m bench.bench_nightly [--accounts 10] [--campaigns-per-account 5000]
                                            [--db sqlite|postgres] [--history-days 90]
                                            [--no-apply] [--profile DIR]

Builds a sandbox source of accounts x campaigns in a temporary directory and runs
``run_nightly`` twice, each night in a fresh process as cron would start ``budgetpilot
nightly``: the first night on an empty database (full sync of the history), then a second
night a day later (the steady state: lookback re-sync, optimise and propose, auto-approve,
apply, alerts). Auto-approval is allowed up to any change, so every proposal is applied and
the apply stage is measured at its largest.

Per stage it prints the wall time, the process's CPU time (which a busy machine disturbs
less) and the peak resident memory of the process while that stage ran (the kernel's
high-water mark, reset before each stage); per night the largest of those. PostgreSQL is
127.0.0.1:5432 db ``test``, in a schema of its own that is dropped afterwards.
``--profile DIR`` writes a cProfile of each night to DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import functools
import logging
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_URL = os.environ.get("BUDGETPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The nightly module's steps, as the report names them. A name the module no longer has is
# left out (its time shows under "other").
STAGES = (
    ("sync", "_sync"),
    ("expire", "_expire"),
    ("optimise/propose", "_propose"),
    ("hard stop", "_hard_stop"),
    ("approve", "_auto_approve"),
    ("apply", "_apply"),
    ("alerts", "_evaluate_alerts"),
)


def _rss_peak_mib() -> float:
    """The process's resident high-water mark since the last reset (/proc), else its life's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_rss_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS


def _config(args: argparse.Namespace, db_url: str, state: Path, now: dt.datetime) -> dict:
    return {
        "database": {"url": db_url},
        "sync": {"lookback_days": 28, "history_days": args.history_days},
        "sources": [{
            "name": "sandbox", "kind": "sandbox", "seed": 7,
            "accounts": args.accounts, "campaigns_per_account": args.campaigns_per_account,
            "state_path": str(state), "now": now.replace(tzinfo=None).isoformat(),
        }],
        "portfolios": [{"name": "default", "reporting_currency": "EUR"}],
        "optimizer": {"objective": "conversions", "max_change": 0.2},
        "service": {"auto_approve_max_change": 10},
        "scheduler": {"apply": not args.no_apply},
    }


def _night(raw: dict, now: dt.datetime, profile: str | None, out: Any) -> None:
    """One nightly run in this (fresh) process; puts its figures on ``out``."""
    from campaigns.config import settings_from_dict
    from campaigns.db import create_db_engine, ensure_schema
    from campaigns.jobs import nightly

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = settings_from_dict(raw)
    engine = create_db_engine(raw["database"]["url"])
    ensure_schema(engine)
    stages: dict[str, tuple[float, float, float]] = {}  # wall s, CPU s, peak MiB

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*a: Any, **kw: Any) -> Any:
            _reset_rss_peak()
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                seconds, used, peak = stages.get(label, (0.0, 0.0, 0.0))
                stages[label] = (seconds + time.perf_counter() - start,
                                 used + time.process_time() - cpu, max(peak, _rss_peak_mib()))
        return run

    # A portfolio's steps are methods of the nightly's run object; the others are functions.
    run_class = getattr(nightly, "_Run", None)
    for label, name in STAGES:
        owner = run_class if run_class is not None and hasattr(run_class, name) else nightly
        if hasattr(owner, name):
            setattr(owner, name, timed(label, getattr(owner, name)))
    platform = _time_platform()
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    report = nightly.run_nightly(engine, settings, now=lambda: now)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    out.put({
        "stages": stages, "total": total, "cpu": cpu, "platform": platform, "lines": report.lines(),
        "ok": report.ok,
        # Resetting the high-water mark resets getrusage's too: the night's peak is the
        # largest of the stages' and of what ran outside them.
        "peak": max([_rss_peak_mib(), *(peak for _, _, peak in stages.values())]),
    })


def _time_platform() -> dict[str, float]:
    """Time spent inside the simulated platform (generating metrics, applying budgets): the
    sandbox runs in the job's process, where a real platform's time would be network wait."""
    from connectors.sandbox import SandboxConnector

    spent = {"metrics": 0.0, "writes": 0.0}
    metrics, apply, read = (SandboxConnector.daily_metrics, SandboxConnector.apply_budget,
                            SandboxConnector.read_budget)

    def daily_metrics(self: Any, *a: Any, **kw: Any) -> Iterator[Any]:
        rows = metrics(self, *a, **kw)
        while True:
            start = time.perf_counter()
            try:
                row = next(rows)
            except StopIteration:
                return
            finally:
                spent["metrics"] += time.perf_counter() - start
            yield row

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Any, *a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                spent["writes"] += time.perf_counter() - start
        return run

    SandboxConnector.daily_metrics = daily_metrics  # type: ignore[method-assign]
    SandboxConnector.apply_budget = timed(apply)  # type: ignore[method-assign]
    SandboxConnector.read_budget = timed(read)  # type: ignore[method-assign]
    return spent


def _in_process(raw: dict, now: dt.datetime, profile: str | None) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_night, args=(raw, now, profile, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/bench.db"
        return
    from sqlalchemy import text

    from campaigns.db import create_db_engine

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _print(title: str, result: dict) -> None:
    print(f"{title}: {result['total']:.1f} s ({result['cpu']:.1f} s CPU), "
          f"peak RSS {result['peak']:.0f} MiB"
          + ("" if result["ok"] else "  (NOT OK)"))
    accounted = 0.0
    for label, _ in STAGES:
        if label in result["stages"]:
            seconds, cpu, peak = result["stages"][label]
            accounted += seconds
            print(f"  {label:<18} {seconds:8.2f} s  {cpu:8.2f} s CPU   peak RSS {peak:6.0f} MiB")
    print(f"  {'other':<18} {result['total'] - accounted:8.2f} s")
    print(f"  of which the simulated platform: {result['platform']['metrics']:.2f} s generating "
          f"metrics (in sync), {result['platform']['writes']:.2f} s reading and writing "
          "budgets (in apply)")
    for line in result["lines"]:
        print(f"    | {line[:150]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--campaigns-per-account", type=int, default=5000)
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-apply", action="store_true",
                        help="leave approved shifts unapplied (the scheduler's apply = false)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each night here")
    args = parser.parse_args(argv)
    load = _uptime()
    print(f"{args.accounts} accounts x {args.campaigns_per_account} campaigns "
          f"({args.accounts * args.campaigns_per_account} campaigns), {args.history_days} days "
          f"of history, {args.db}; load: {load}")
    # The sandbox's clock and the optimiser's "today" agree: the second night is now.
    second = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    nights = [("first run (empty database)", second - dt.timedelta(days=1)),
              ("steady state (next night)", second)]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, _database(args.db, Path(tmp)) as url:
        for i, (title, now) in enumerate(nights):
            raw = _config(args, url, Path(tmp) / "sandbox-state.json", now)
            profile = str(args.profile / f"night{i + 1}.prof") if args.profile else None
            _print(title, _in_process(raw, now, profile))
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()
