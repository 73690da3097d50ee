"""Allocation and curve-fitting timings, with SLSQP on the same instances for reference;
`--cli N` times `budgetpilot optimize --json` end to end (a fresh process, SQLite) over N
campaigns with 90 days of history, reading one stored history and writing one proposal.

`--relearn` adds, before each run, what a morning's sync restates (a read of the days 1, 3
and 7 days old, each campaign one conversion up): the run learns the completion curves again,
as the first `optimize` after a sync does; `--cold` also forgets what the last learning kept
(as the first run after an upgrade, or with every observation read again).

Run: python bench/bench_optimizer.py [--quick] [--cli 10000 [--db FILE] [--runs 2]
     [--profile FILE] [--relearn [--cold]]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.allocate import AllocationProblem, solve_allocation
from optimizer.curves import marginal, response
from optimizer.fitting import fit_curves

NETWORKS = 4


def instance(n: int, seed: int = 0) -> AllocationProblem:
    """n units over 4 networks and n/50 accounts; network caps, unit bounds, 20% max change."""
    rng = np.random.default_rng(seed)
    n_accounts = max(NETWORKS, n // 50)
    unit_account = rng.integers(0, n_accounts, n)
    account_network = np.arange(n_accounts) % NETWORKS
    current = rng.uniform(20, 400, n)
    unit_min = np.where(rng.random(n) < 0.1, current * 0.9, 0.0)
    unit_max = np.where(rng.random(n) < 0.1, current * 1.05, np.inf)
    lower = np.clip(current * 0.8, unit_min, unit_max)
    upper = np.clip(current * 1.2, unit_min, unit_max)
    by_network = np.bincount(account_network[unit_account], current, NETWORKS)
    return AllocationProblem(
        gain=rng.uniform(5, 100, n),
        half_spend=rng.uniform(20, 800, n),
        lower=lower,
        upper=upper,
        unit_account=unit_account,
        account_network=account_network,
        account_min=np.zeros(n_accounts),
        account_max=np.full(n_accounts, np.inf),
        network_min=np.array([0.0, by_network[1] * 1.05, 0.0, 0.0]),
        network_max=np.array([by_network[0] * 0.9, np.inf, by_network[2] * 0.95, np.inf]),
        total_budget=float(current.sum() * 1.02),
    )


def time_exact(p: AllocationProblem, repeat: int) -> tuple[float, float, float]:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        sol = solve_allocation(p)
        best = min(best, time.perf_counter() - start)
    return best, sol.objective, sol.relative_gap


def time_slsqp(p: AllocationProblem) -> tuple[float, float]:
    n = p.n_units
    net = np.zeros((NETWORKS, n))
    net[p.account_network[p.unit_account], np.arange(n)] = 1.0
    capped = np.isfinite(p.network_max)

    def neg(x: np.ndarray) -> float:
        return -float(response(x, p.gain, p.half_spend).sum())

    def grad(x: np.ndarray) -> np.ndarray:
        return -marginal(x, p.gain, p.half_spend)

    constraints = [
        {"type": "ineq", "fun": lambda x: p.total_budget - x.sum(), "jac": lambda x: -np.ones(n)},
        {
            "type": "ineq",
            "fun": lambda x: p.network_max[capped] - net[capped] @ x,
            "jac": lambda x: -net[capped],
        },
        {"type": "ineq", "fun": lambda x: net @ x - p.network_min, "jac": lambda x: net},
    ]
    start = time.perf_counter()
    result = minimize(
        neg,
        p.lower + 0.5 * (p.upper - p.lower),
        jac=grad,
        method="SLSQP",
        bounds=Bounds(p.lower, p.upper),
        constraints=constraints,
        options={"maxiter": 2000, "ftol": 1e-12},
    )
    elapsed = time.perf_counter() - start
    x = np.clip(result.x, p.lower, p.upper)
    return elapsed, -neg(x)


def bench_allocation(sizes: list[int]) -> None:
    print("allocation (exact, nested caps)")
    print(f"{'units':>10} {'seconds':>10} {'rel. gap':>10}")
    for n in sizes:
        seconds, _, gap = time_exact(instance(n), repeat=3 if n < 1_000_000 else 2)
        print(f"{n:>10,} {seconds:>10.4f} {gap:>10.1e}")


def bench_slsqp(sizes: list[int]) -> None:
    print("\nexact vs scipy SLSQP on the same instances")
    print(
        f"{'units':>6} {'exact s':>9} {'SLSQP s':>9} {'speed-up':>9} "
        f"{'objective gap (exact-SLSQP)/|exact|':>38}"
    )
    for n in sizes:
        p = instance(n, seed=1)
        exact_s, exact_obj, _ = time_exact(p, repeat=20)
        slsqp_s, slsqp_obj = time_slsqp(p)
        gap = (exact_obj - slsqp_obj) / abs(exact_obj)
        print(f"{n:>6} {exact_s:>9.5f} {slsqp_s:>9.3f} {slsqp_s / exact_s:>8.0f}x {gap:>38.2e}")


def bench_fitting(n_units: int, days: int) -> None:
    rng = np.random.default_rng(2)
    today = dt.date(2025, 3, 3)
    gain = rng.uniform(10, 100, n_units)
    half = rng.uniform(50, 500, n_units)
    spend = half[:, None] * rng.uniform(0.3, 2.5, (n_units, days))
    dates = pd.to_datetime([today - dt.timedelta(days=d) for d in range(days, 0, -1)])
    conversions = rng.poisson(response(spend, gain[:, None], half[:, None]))
    history = pd.DataFrame(
        {
            "unit_id": np.repeat(np.arange(n_units).astype(str), days),
            "network": np.repeat(np.arange(n_units) % NETWORKS, days).astype(str),
            "date": np.tile(dates, n_units),
            "spend": spend.ravel(),
            "conversions": conversions.ravel(),
        }
    )
    start = time.perf_counter()
    fitted = fit_curves(history, today=today, window_days=days)
    elapsed = time.perf_counter() - start
    rows = fitted.index_of(np.arange(n_units).astype(str).tolist())
    err = np.abs(
        response(half, fitted.gain[rows], fitted.half_spend[rows]) / response(half, gain, half) - 1
    )
    print(
        f"\ncurve fitting: {n_units:,} units x {days} days in {elapsed:.2f} s "
        f"(median error at half-spend {np.median(err):.1%})"
    )


# Daily syncs restate a young day's conversions; the store keeps a read at these ages.
_READ_AGES = {1: 0.5, 3: 0.85, 7: 1.0}


def _fill_database(url: str, n_campaigns: int, days: int, today: dt.date) -> None:
    """n campaigns over 10 EUR accounts on two networks, `days` of varied spend before today,
    and what daily syncs observed of the last 30 days (reads at ages 1, 3 and 7)."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from campaigns.db import create_db_engine, ensure_schema
    from campaigns.ingest.store import get_or_create_portfolio
    from campaigns.models import AdAccount, Campaign, DailyMetric, MetricObservation

    engine = create_db_engine(url)
    ensure_schema(engine)
    rng = np.random.default_rng(11)
    stamp = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        portfolio = get_or_create_portfolio(session, "default", reporting_currency="EUR")
        accounts = []
        for a in range(10):
            account = AdAccount(portfolio_id=portfolio.id, network=("meta", "google")[a % 2],
                                external_id=f"act_{a}", name=f"Account {a}", currency="EUR",
                                timezone="UTC")
            session.add(account)
            accounts.append(account)
        session.flush()
        budgets = rng.uniform(20, 400, n_campaigns).round(2)
        session.execute(insert(Campaign), [
            {"account_id": accounts[i % 10].id, "network": accounts[i % 10].network,
             "external_id": f"c{i}", "name": f"Campaign {i}", "status": "active",
             "daily_budget": f"{budgets[i]:.2f}", "budget_level": "campaign",
             "created_at": stamp, "updated_at": stamp}
            for i in range(n_campaigns)])
        ids = [c for (c,) in session.execute(
            Campaign.__table__.select().with_only_columns(Campaign.__table__.c.id)
            .order_by(Campaign.__table__.c.id))]
        gain, half = rng.uniform(5, 60, n_campaigns), budgets * rng.uniform(0.5, 2.0, n_campaigns)
        for d in range(days, 0, -1):
            day = today - dt.timedelta(days=d)
            spend = budgets * rng.uniform(0.6, 1.5, n_campaigns)
            conv = rng.poisson(response(spend, gain, half))
            session.execute(insert(DailyMetric), [
                {"campaign_id": ids[i], "account_id": accounts[i % 10].id, "date": day,
                 "spend": f"{spend[i]:.2f}", "conversions": int(conv[i]),
                 "revenue": f"{conv[i] * 40.0:.2f}", "daily_budget": f"{budgets[i]:.2f}",
                 "updated_at": stamp}
                for i in range(n_campaigns)])
            for age, share in _READ_AGES.items():
                if age > d or d > 30:
                    continue
                seen = dt.datetime.combine(day + dt.timedelta(days=age), dt.time(3))
                part = np.floor(conv * share)
                session.execute(insert(MetricObservation), [
                    {"campaign_id": ids[i], "date": day, "observed_at": seen,
                     "conversions": int(part[i]), "revenue": f"{part[i] * 40.0:.2f}",
                     "source": "sync"} for i in range(n_campaigns)])
        session.commit()
    engine.dispose()


def _children_cpu() -> float:
    """CPU seconds of finished child processes: what a busy machine disturbs least."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _last_timings(url: str) -> dict[str, float]:
    """The phases the newest run recorded (`OptimizationRun.timings`)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        raw = connection.execute(text(
            "SELECT timings FROM optimizationrun ORDER BY created_at DESC, rowid DESC LIMIT 1"
        )).scalar()
    engine.dispose()
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


PHASES = (("load_history_s", "units + history"), ("load_limits_s", "caps, rates, holds"),
          ("nowcast_s", "completion curves"), ("fit_s", "fit curves"),
          ("allocate_s", "allocate + confidence"),
          ("round_s", "round to currency"), ("record_s", "record run + shift"),
          ("result_s", "build result"))


def _forget_curves(url: str) -> None:
    """Drop the completion curves the runs kept, and what the last learning kept of each
    account-day, so the next run learns them from every observation."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE optimizationrun SET inputs = "
                                "json_remove(inputs, '$.completion')"))
        if "completionstate" in inspect(connection).get_table_names():
            connection.execute(text("DELETE FROM completionstate"))
    engine.dispose()


def _sync_restatements(url: str, today: dt.date, attempt: int) -> int:
    """What a sync this morning observed: the days 1, 3 and 7 days old restated upwards by
    one conversion for each campaign (one observation each)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    seen = dt.datetime.combine(today, dt.time(4, attempt % 60)).strftime("%Y-%m-%d %H:%M:%S.%f")
    added = 0
    with engine.begin() as connection:
        for age in (1, 3, 7):
            added += connection.execute(text(
                "INSERT INTO metricobservation (campaign_id, date, observed_at, conversions, "
                "revenue, source) SELECT campaign_id, date, :seen, MAX(conversions) + 1, "
                "MAX(revenue), 'sync' FROM metricobservation WHERE date = :day "
                "GROUP BY campaign_id, date"),
                {"seen": seen, "day": (today - dt.timedelta(days=age)).isoformat()}).rowcount
    engine.dispose()
    return added


def bench_cli(n_campaigns: int, days: int, profile: Path | None, db: Path | None,
              runs: int, relearn: bool = False, cold: bool = False) -> None:
    """`budgetpilot optimize --json` in a fresh process, as a manager or cron runs it."""
    today = dt.datetime.now(dt.UTC).date()
    with tempfile.TemporaryDirectory() as tmp:
        path = db or Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        start = time.perf_counter()
        if not path.exists():
            _fill_database(url, n_campaigns, days, today)
        print(f"\noptimize end to end (CLI, SQLite): {n_campaigns:,} campaigns x {days} days "
              f"(database ready in {time.perf_counter() - start:.0f} s)")
        config = Path(tmp) / "budgetpilot.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        command = [sys.executable, "-m", "api.cli.main", "optimize", "--config", str(config),
                   "--json"]
        if profile is not None:
            command[1:1] = ["-m", "cProfile", "-o", str(profile)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        imports = [sys.executable, "-c", "import api.cli.main, campaigns.optimization.proposals"]
        start, cpu = time.perf_counter(), _children_cpu()
        subprocess.run(imports, env=env, check=True)
        print(f"  start-up and imports alone: {time.perf_counter() - start:.2f} s wall, "
              f"{_children_cpu() - cpu:.2f} s CPU")
        for attempt in range(runs):  # later runs read a warm page cache, supersede a shift
            if relearn:
                _sync_restatements(url, today, attempt)
            if cold:
                _forget_curves(url)
            start = time.perf_counter()
            cpu = _children_cpu()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
            if done.returncode != 0:
                raise SystemExit(f"optimize failed ({done.returncode}): {done.stderr[-2000:]}")
            out = json.loads(done.stdout)
            moved = sum(a["proposed_budget"] != a["current_budget"] for a in out["allocations"])
            explored = sum(bool(a.get("exploration")) for a in out["allocations"])
            print(f"  run {attempt + 1}: {seconds:.2f} s wall, {cpu:.2f} s CPU (load "
                  f"{os.getloadavg()[0]:.1f}), {len(out['allocations']):,} "
                  f"budgets, {moved:,} moved, {explored:,} for exploration")
            timings = _last_timings(url)
            inside = timings.get("total_s", 0.0)
            for key, label in (*PHASES, ("total_s", "propose in all")):
                if key in timings:  # CPU seconds beside the wall's (runs that kept them)
                    cpu_s = timings.get(f"cpu_{key}")
                    print(f"    {label:<24} {timings[key]:6.2f} s"
                          + (f" ({cpu_s:5.2f} s CPU)" if cpu_s is not None else ""))
            print(f"    outside propose (start-up, imports, commit, JSON): "
                  f"{seconds - inside:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip 1e6 units and 300-unit SLSQP")
    parser.add_argument("--cli", type=int, metavar="N",
                        help="only time `optimize` end to end over N campaigns")
    parser.add_argument("--days", type=int, default=90, help="history days for --cli")
    parser.add_argument("--profile", type=Path, help="with --cli: cProfile the run into FILE")
    parser.add_argument("--db", type=Path, help="with --cli: keep the filled SQLite database "
                        "in FILE and reuse it next time")
    parser.add_argument("--runs", type=int, default=2, help="with --cli: runs to time")
    parser.add_argument("--relearn", action="store_true", help="with --cli: a sync's "
                        "restatements before each run, which learns the completion curves "
                        "again (the first optimize after a sync)")
    parser.add_argument("--cold", action="store_true", help="with --cli: each run learns the "
                        "completion curves from every observation (nothing kept)")
    args = parser.parse_args()
    if args.cli:
        bench_cli(args.cli, args.days, args.profile, args.db, args.runs, args.relearn,
                  args.cold)
        return
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    bench_allocation(sizes)
    bench_slsqp([100] if args.quick else [100, 300])
    bench_fitting(2_000 if args.quick else 10_000, 90)


if __name__ == "__main__":
    main()
