"""The agency benchmark: one nightly run over thousands of sandbox accounts on 1-8 workers.

    .venv/bin/python -m bench.bench_agency [--accounts 5000] [--campaigns-per-account 20]
        [--workers 1,2,4,8] [--concurrency 8] [--pool threads]
        [--latency-ms 150] [--report-seconds 3,20]
        [--rate-limit-app 100/second] [--rate-limit-account 60/minute]
        [--history-days 28] [--small-accounts 250 --small-workers 1,2]
        [--no-apply] [--target-accounts 20000] [--baseline WORKERS:RATE:SYNC_RATE]

A sandbox agency where the platform sets the pace: every call waits ``--latency-ms``, every
account's metrics window first waits for an async report of ``--report-seconds`` (drawn per
seed, account and window, so every run waits the same), and calls take turns under the
platform's rate limits, per app and per account, shared by the workers in Redis. For each
worker count, a fresh PostgreSQL schema (SQLite when PostgreSQL is unreachable) gets one
nightly run through ``run_nightly`` (what ``budgetpilot nightly`` runs: sync fanned out to
the workers, optimise, auto-approve, apply, alerts) while that many ``budgetpilot worker
--concurrency N`` processes run the tasks. The database starts empty, and the first sync
reads ``--history-days``; with the default 28 that is as many days as a later night's
28-day lookback re-reads, so the sync moves the rows of a steady night.

Prints per worker count the wall time (and the sync's share), accounts per second, the
speed-up over the fewest workers measured and its share of linear, the machine's load from
/proc/loadavg while it ran; then the workers needed for ``--target-accounts`` in under the
largest run's wall time. Worker counts in ``--small-workers`` run at ``--small-accounts``
(their full-size run would take hours); their figures are per second, so they compare.
Counts run in the order given; ``--baseline`` compares with a count measured in an earlier
invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_nightly import _database
from tests.workers.processes import REDIS_URL, queue_config, redis_skip_reason, workers

# Today at 02:00 UTC: the nightly's steps on the workers read the wall clock (a worker has
# no injected one), so the sandbox's world must end where their today begins.
NOW = dt.datetime.now(dt.UTC).replace(hour=2, minute=0, second=0, microsecond=0)
CALLS_PER_ACCOUNT = 3  # campaigns, ad sets, the metrics window (its report's wait aside)
# The write-back: one listing of the account's budgets, a write per budget, one listing
# reading the writes back (before, 4 a budget: the service's read, then the connector's read,
# write and read-back).
CALLS_PER_WRITEBACK = 2
CALLS_PER_ITEM = 1
FANNED_OUT = ("sync", "apply")  # steps whose tasks are per account, on every worker's slots
T = TypeVar("T")


@dataclass
class Run:
    workers: int
    accounts: int
    wall: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    load: list[tuple[float, float, float]] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # the run's, on PostgreSQL
    submitter: list[int] = field(default_factory=list)  # this process's own (its engine's)
    submitter_pool: int = 0  # the most its engine opens at once
    apply_accounts: list[float] = field(default_factory=list)  # each account's apply task, s
    written: int = 0  # budgets the run's apply changed on the platform
    # (seconds into the run, portfolio's run key, step) each time a run's progress moved on
    steps_seen: list[tuple[float, str, str]] = field(default_factory=list)
    worker_cpu: float = 0.0  # CPU seconds of the worker processes (and pool children)
    machine_busy: float = 0.0  # share of the machine's CPU time busy (everyone's work)

    @property
    def rate(self) -> float:
        return self.accounts / self.wall

    @property
    def sync_rate(self) -> float:
        """Accounts synced a second while any portfolio was syncing. Portfolios side by side
        each report their own sync's wall time; summed, those overlap, and the agency's rate
        would read as low as one portfolio's (a quarter of it with 4 at once)."""
        seconds = busy_seconds(self.steps_seen, "sync", self.wall)
        return self.accounts / max(seconds or self.stages.get("sync", self.wall), 1e-9)


def busy_seconds(steps_seen: list[tuple[float, str, str]], step: str, wall: float) -> float:
    """Seconds during which at least one portfolio was in ``step`` (from entering it to its
    next step, or the run's end): the union of the portfolios' spans, not their sum."""
    by_key: dict[str, list[tuple[float, str]]] = {}
    for t, key, name in sorted(steps_seen):
        by_key.setdefault(key, []).append((t, name))
    spans = sorted(
        (t, end) for events in by_key.values()
        for (t, name), end in zip(events, [t for t, _ in events[1:]] + [wall], strict=True)
        if name == step)
    total, reach = 0.0, -math.inf
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children, from /proc (0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every live descendant (a prefork worker's pool)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        here = todo.pop()
        total += process_cpu(here)
        todo += children.get(here, [])
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the machine since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


@contextlib.contextmanager
def sampling(read: Callable[[], T | None], into: list[T], every: float) -> Iterator[None]:
    """``read()`` every ``every`` seconds into ``into`` while the block runs, on a thread of
    its own (a None reading is left out)."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            if (value := read()) is not None:
                into.append(value)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def sampling_load(into: list[tuple[float, float, float]], every: float = 5.0) -> Iterator[None]:
    """/proc/loadavg every ``every`` seconds while the block runs (and once at each end)."""
    into.append(loadavg())
    with sampling(loadavg, into, every):
        yield
    into.append(loadavg())


@contextlib.contextmanager
def sampling_connections(name: str, into: list[int], every: float = 2.0) -> Iterator[None]:
    """PostgreSQL connections open under ``application_name`` ``name`` (the run's workers,
    or this process's under its own) every ``every`` seconds while the block runs."""
    from sqlalchemy import text

    from bench.bench_nightly import PG_URL
    from campaigns.db import create_db_engine

    admin = create_db_engine(PG_URL)

    def count() -> int | None:
        try:
            with admin.connect() as conn:
                return int(conn.execute(text(
                    "select count(*) from pg_stat_activity where application_name = :n"),
                    {"n": name}).scalar() or 0)
        except Exception:  # a sample missed (the database busy) is no reason to stop
            return None

    try:
        with sampling(count, into, every):
            yield
    finally:
        admin.dispose()


def pg_reachable() -> bool:
    from sqlalchemy import text

    from bench.bench_nightly import PG_URL
    from campaigns.db import create_db_engine

    try:
        engine = create_db_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # any failure: measure on SQLite instead, and say so
        return False


def config_text(args: argparse.Namespace, accounts: int, url: str, state: Path) -> str:
    """The agency's config: with ``--portfolios N``, one portfolio per client, each fed by a
    sandbox source of its own accounts (disjoint, numbered on), all on one app whose rate
    limit they share, as an agency's clients share its platform app."""
    low, high = args.report_seconds
    limits = "".join(f'{key} = "{value}"\n' for key, value in (
        ("rate_limit_app", args.rate_limit_app), ("rate_limit_account", args.rate_limit_account),
    ) if value)
    n = max(1, min(args.portfolios, accounts))
    sizes = [accounts // n + (i < accounts % n) for i in range(n)]
    sources, first = [], 0
    for i, size in enumerate(sizes):
        name, portfolio = ("agency", "default") if n == 1 else (f"agency{i + 1}", f"client{i + 1}")
        where = state if n == 1 else state.with_name(f"{state.stem}-{i + 1}{state.suffix}")
        sources.append(
            f'[[sources]]\nname = "{name}"\nkind = "sandbox"\nseed = {args.seed}\n'
            f'portfolio = "{portfolio}"\napp = "agency"\n'
            f"accounts = {size}\nfirst_account = {first}\n"
            f"campaigns_per_account = {args.campaigns_per_account}\n"
            f"latency_ms = {args.latency_ms}\nreport_seconds = [{low}, {high}]\n{limits}"
            f'state_path = "{where}"\nnow = "{NOW.replace(tzinfo=None).isoformat()}"\n\n'
            f'[[portfolios]]\nname = "{portfolio}"\nreporting_currency = "EUR"\n\n')
        first += size
    return (
        f'[database]\nurl = "{url}"\n\n'
        f"[sync]\nlookback_days = {args.history_days}\nhistory_days = {args.history_days}\n\n"
        + "".join(sources) +
        '[optimizer]\nobjective = "conversions"\nmax_change = 0.2\n\n'
        # Every proposal is approved, so the apply step runs at its largest.
        "[service]\nauto_approve_max_change = 10\n\n"
        f"[scheduler]\napply = {'false' if args.no_apply else 'true'}\n"
    )


def stage_seconds(report: object) -> dict[str, float]:
    """Each step's wall time as the run reports it (the portfolio's steps, then alerts)."""
    out: dict[str, float] = {}
    timings = [t for p in getattr(report, "portfolios", []) for t in getattr(p, "timings", [])]
    for t in [*timings, *getattr(report, "timings", [])]:
        if not getattr(t, "subject", ""):
            out[t.step] = out.get(t.step, 0.0) + t.seconds
    return out


def run_once(args: argparse.Namespace, n: int, accounts: int, kind: str, tmp: Path) -> Run:
    from campaigns.config import load_settings
    from campaigns.db import create_db_engine, ensure_schema
    from campaigns.jobs.nightly import run_nightly
    from campaigns.jobs.nightly_sources import submitter_connections

    here = tmp / f"{n}-workers"
    here.mkdir()
    run = Run(n, accounts)
    with _database(kind, here) as url:
        name = f"bench-agency-{os.getpid()}-{n}"
        if kind == "postgres":  # its connections counted by name while it runs
            url += f"&application_name={name}"
        config = here / "agency.toml"
        # The workers' results are awaited for as long as a night may take.
        queue_config(config, config_text(args, accounts, url, here / "sandbox.json"),
                     visibility_timeout=6 * 3600, wait_timeout=6 * 3600,
                     broker_url=args.broker)
        if args.db_connections:  # appended to [queue], the config's last section
            config.write_text(config.read_text()
                              + f"worker_db_connections = {args.db_connections}\n")
        if args.portfolios_at_once:
            config.write_text(config.read_text()
                              + f"portfolios_at_once = {args.portfolios_at_once}\n")
        settings = load_settings(config)
        # Sized as `budgetpilot nightly` sizes its own (api.cli.app.engine_for), and told
        # apart from the workers' by name.
        run.submitter_pool = submitter_connections(settings)
        mine = url.replace(f"application_name={name}", f"application_name={name}-submitter")
        engine = create_db_engine(mine, connections=run.submitter_pool)
        ensure_schema(engine)
        counting = (sampling_connections(name, run.connections) if kind == "postgres"
                    else contextlib.nullcontext())
        own = (sampling_connections(f"{name}-submitter", run.submitter, every=0.5)
               if kind == "postgres" else contextlib.nullcontext())
        with workers(config, url, here, count=n, concurrency=args.concurrency,
                     pool=args.pool) as pool, sampling_load(run.load), counting, own:
            cpu = sum(tree_cpu(w.proc.pid) for w in pool)
            busy, ticks = machine_ticks()
            start = time.perf_counter()
            said = [0.0]

            def seen(line: str, at: float = start) -> None:
                """Each portfolio's step as it moves on (and the sync's count each minute),
                printed: a long run shows how far it got."""
                key, _, rest = line.removeprefix("nightly ").partition(": ")
                step, _, counts = rest.partition(", ")
                t = time.perf_counter() - at
                new = not any(k == key and s == step for _, k, s in run.steps_seen)
                if new:
                    run.steps_seen.append((t, key, step))
                if new or (step == "sync" and t - said[0] >= 60):
                    said[0] = t
                    print(f"    [{t:7.1f} s] {key.split('@')[0]}: {step}"
                          f"{' (' + counts + ')' if counts else ''}", flush=True)

            report = run_nightly(engine, settings, now=lambda: NOW, force=True,
                                 on_progress=seen)
            run.wall = time.perf_counter() - start
            run.worker_cpu = sum(tree_cpu(w.proc.pid) for w in pool) - cpu
            busy_after, ticks_after = machine_ticks()
            run.machine_busy = (busy_after - busy) / max(1, ticks_after - ticks)
        engine.dispose()
    run.stages = stage_seconds(report)
    run.apply_accounts = [t.seconds for p in report.portfolios for t in p.timings
                          if t.step == "apply_account"]
    run.written = sum(c.outcome == "applied" for p in report.portfolios for c in p.changes)
    run.failed = sorted(getattr(report, "unsynced", set())) + [
        f"{p.portfolio} {step}: {error}" for p in report.portfolios
        for step, error in p.errors.items()]
    return run


def timeline(run: Run) -> str:
    """When each step ran, over every portfolio: from the first portfolio entering it to
    the last one leaving it (its next step), in seconds into the run."""
    by_key: dict[str, list[tuple[float, str]]] = {}
    for t, key, step in run.steps_seen:
        by_key.setdefault(key, []).append((t, step))
    spans: dict[str, list[float]] = {}
    for events in by_key.values():
        ends = [t for t, _ in events[1:]] + [run.wall]
        for (t, step), end in zip(events, ends, strict=True):
            if step != "finished":
                span = spans.setdefault(step, [t, end])
                span[0], span[1] = min(span[0], t), max(span[1], end)
    return ", ".join(f"{step} {a:.0f}-{b:.0f} s" for step, (a, b) in spans.items())


def describe(run: Run, base: Run, full: int, args: argparse.Namespace) -> str:
    speedup = run.rate / base.rate
    linear = speedup * base.workers / run.workers
    sync_speedup = run.sync_rate / base.sync_rate
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run.stages.items()
                       if seconds >= 0.05)
    ones = [x[0] for x in run.load]
    size = "" if run.accounts == full else f" [smaller: {run.accounts} accounts]"
    ok = "" if not run.failed else f"  NOT OK: {len(run.failed)} failed: {run.failed[:3]}"
    return (
        f"{run.workers} worker{'s' if run.workers > 1 else ' '}{size}: nightly "
        f"{run.wall:8.1f} s wall, {run.rate:6.2f} accounts/s, speed-up {speedup:5.2f}x over "
        f"{base.workers} ({linear:.0%} of linear); sync alone {run.sync_rate:6.2f} accounts/s "
        f"({sync_speedup:.2f}x)\n"
        f"    steps{' (summed over the portfolios, which overlap)' if args.portfolios > 1 else ''}"
        f": {stages}\n"
        f"    timeline: {timeline(run)}\n"
        f"    load (1-min, /proc/loadavg): start {ones[0]:.2f}, mean "
        f"{sum(ones) / len(ones):.2f}, max {max(ones):.2f}, end {ones[-1]:.2f}; machine CPU "
        f"{run.machine_busy:.0%} busy (all its work); the workers' CPU {run.worker_cpu:.0f} s "
        f"({run.worker_cpu / run.accounts * 1000:.0f} ms an account){ok}"
        + (f"\n    PostgreSQL connections of the run: max {max(run.connections)} for "
           f"{run.workers * args.concurrency} task slots (the workers')"
           if run.connections else "")
        + (f"\n    this process's (the submitter's) connections: max {max(run.submitter)}, "
           f"its engine opens up to {run.submitter_pool}" if run.submitter else "")
        + (f"\n    write-back: {run.written} budgets written; an account's apply task "
           f"{statistics.median(run.apply_accounts):.1f} s median, "
           f"{max(run.apply_accounts):.1f} s max ({len(run.apply_accounts)} accounts)"
           if run.apply_accounts else "")
    )


def projection(args: argparse.Namespace, runs: list[Run]) -> list[str]:
    """Workers for ``--target-accounts`` in under the wall time of the largest run: the steps
    fanned out per account (sync, apply) at the largest run's rate per worker (assumed to hold
    past it: linear only while the platforms, not the CPU, set the pace); the others
    (optimise, approve, alerts: one task) grow with the campaigns."""
    if not runs:
        return []
    top = max(runs, key=lambda r: (r.accounts, r.workers))
    target = args.target_accounts
    if args.portfolios > 1:
        return _projection_by_clients(args, top) + _app_limit(args, target / top.wall, target)
    fanned = sum(top.stages.get(s, 0.0) for s in FANNED_OUT) or top.wall
    rest = max(0.0, top.wall - fanned) * target / top.accounts
    budget = top.wall - rest
    lines = [f"projection for {target} accounts in under {top.wall:.0f} s (the "
             f"{top.workers}-worker wall time at {top.accounts} accounts): the one-task steps "
             f"took {top.wall - fanned:.0f} s and would take about {rest:.0f} s"]
    if budget <= 0:
        lines.append("  they alone pass the wall time: more workers cannot make it")
        return lines
    needed = target / budget
    per_worker = top.accounts / fanned / top.workers
    count = math.ceil(needed / per_worker)
    lines.append(
        f"  sync and apply need {needed:.2f} accounts/s; at {per_worker:.3f} accounts/s per "
        f"worker (--concurrency {args.concurrency}): {count} workers "
        f"({count * args.concurrency} task slots)")
    return lines + _app_limit(args, needed, target)


def _projection_by_clients(args: argparse.Namespace, top: Run) -> list[str]:
    """With a portfolio per client, more accounts are more clients of the same size: their
    one-task steps (optimise, approve) stay as long and overlap the others' sync and apply,
    so the whole night's rate per worker is what scales (while the platforms, not the CPU,
    set the pace)."""
    target = args.target_accounts
    clients = math.ceil(args.portfolios * target / top.accounts)
    needed = target / top.wall
    per_worker = top.rate / top.workers
    count = math.ceil(needed / per_worker)
    return [f"projection for {target} accounts ({clients} portfolios of the same size) in "
            f"under {top.wall:.0f} s (the {top.workers}-worker wall time at {top.accounts} "
            f"accounts): {needed:.2f} accounts/s; at {per_worker:.3f} accounts/s per worker "
            f"(--concurrency {args.concurrency}, the whole night): {count} workers "
            f"({count * args.concurrency} task slots)"]


def _app_limit(args: argparse.Namespace, needed: float, target: int) -> list[str]:
    app = _per_second(args.rate_limit_app)
    if not app:
        return []
    calls = CALLS_PER_ACCOUNT + (0 if args.no_apply else CALLS_PER_WRITEBACK
                                 + CALLS_PER_ITEM * args.campaigns_per_account)
    cap = app / calls
    verdict = "within it" if needed <= cap else "MORE than it allows: the app's limit, " \
        f"not the worker count, sets the pace (at least {target / cap:.0f} s)"
    return [f"  the app's rate limit ({args.rate_limit_app}) allows {cap:.2f} "
            f"accounts/s at {calls} calls an account: {verdict}"]


def _per_second(rate: str | None) -> float | None:
    if not rate:
        return None
    from limits import parse

    item = parse(rate)
    return item.amount / item.get_expiry()


def _baseline(text: str) -> Run:
    """``WORKERS:ACCOUNTS_PER_S:SYNC_ACCOUNTS_PER_S`` of an earlier run, as a run to compare
    with (when the worker counts are measured in separate invocations)."""
    workers, rate, sync_rate = text.split(":")
    scale = 1_000_000
    accounts = round(float(rate) * scale)
    return Run(int(workers), accounts, wall=scale,
               stages={"sync": accounts / float(sync_rate)}, load=[loadavg()])


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--campaigns-per-account", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4,8", help="worker process counts")
    parser.add_argument("--concurrency", type=int, default=8, help="task slots per worker")
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads")
    parser.add_argument("--db-connections", type=int, default=None,
                        help="[queue] worker_db_connections (default: half the slots)")
    parser.add_argument("--portfolios-at-once", type=int, default=None,
                        help="[queue] portfolios_at_once (default: the setting's, 10)")
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--report-seconds", type=_pair, default=(3.0, 20.0),
                        help="MIN,MAX seconds of each async report")
    parser.add_argument("--rate-limit-app", default="100/second")
    parser.add_argument("--rate-limit-account", default="60/minute")
    parser.add_argument("--history-days", type=int, default=28)
    parser.add_argument("--small-accounts", type=int, default=250)
    parser.add_argument("--small-workers", default="",
                        help="worker counts run at --small-accounts instead (e.g. 1,2)")
    parser.add_argument("--portfolios", type=int, default=1,
                        help="clients: the accounts spread over this many portfolios, each "
                        "fed by a sandbox source of its own on one shared app")
    parser.add_argument("--no-apply", action="store_true",
                        help="approve but do not apply (the scheduler's apply = false)")
    parser.add_argument("--target-accounts", type=int, default=20000)
    parser.add_argument("--baseline", help="WORKERS:ACCOUNTS_PER_S:SYNC_ACCOUNTS_PER_S of an "
                        "earlier run: the speed-ups are over it (worker counts measured apart)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", choices=["auto", "postgres", "sqlite"], default="auto")
    # A Redis database of its own: Celery's Redis transport gives back the unacknowledged
    # tasks of a whole database after the shortest visibility timeout of anyone using it,
    # so sharing one with the test suite (db 0) would deliver tasks twice.
    parser.add_argument("--broker", default=REDIS_URL.rsplit("/", 1)[0] + "/13")
    args = parser.parse_args(argv)
    reason = redis_skip_reason()
    if reason:
        raise SystemExit(reason)
    logging.basicConfig(level=logging.WARNING)
    kind = args.db if args.db != "auto" else ("postgres" if pg_reachable() else "sqlite")
    small = {int(x) for x in args.small_workers.split(",") if x}
    counts = [int(x) for x in args.workers.split(",")]  # in the order given
    counts += sorted(small - set(counts))
    low, high = args.report_seconds
    print(f"agency: {args.accounts} accounts x {args.campaigns_per_account} campaigns "
          f"({args.accounts * args.campaigns_per_account} campaigns), {args.latency_ms:g} ms a "
          f"call, async reports {low:g}-{high:g} s, rate limits app {args.rate_limit_app} / "
          f"account {args.rate_limit_account}, {args.history_days} days, {kind}; "
          f"`budgetpilot worker --pool {args.pool} --concurrency {args.concurrency}`, broker "
          f"{args.broker}"
          f"{', no apply' if args.no_apply else ''}"
          f"{f', {args.portfolios} portfolios' if args.portfolios > 1 else ''}", flush=True)
    if small:
        print(f"  {', '.join(map(str, sorted(small)))} worker(s) run at {args.small_accounts} "
              "accounts: their full-size run would not fit the time at hand", flush=True)
    print(f"load before: {' '.join(map(str, loadavg()))} (/proc/loadavg)", flush=True)
    runs: list[Run] = []
    base = _baseline(args.baseline) if args.baseline else None
    if base:
        print(f"speed-ups are over {base.workers} workers' {base.rate:.3f} accounts/s "
              f"(sync {base.sync_rate:.3f}) measured before (--baseline)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            accounts = args.small_accounts if n in small else args.accounts
            runs.append(run_once(args, n, accounts, kind, Path(tmp)))
            print(describe(runs[-1], base or runs[0], args.accounts, args), flush=True)
    for line in projection(args, runs):
        print(line)
    print(f"load after: {' '.join(map(str, loadavg()))}")
    return runs


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
