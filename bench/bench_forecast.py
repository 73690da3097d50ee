"""The end-of-month forecast replayed on past sandbox months: how far off each scope is.

    .venv/bin/python -m bench.bench_forecast [--seeds 7 11 23] [--months 2026-08 2026-09 2026-10]

For each seed and month, on forecast days 5, 10, 15, 20 and 25 the total, each network and
each account is forecast from what the service knows that morning (the clock is the replay's:
spend up to that day, the budgets the sync reads the next morning, the shifts applied and
approved so far), and compared with the month's actual spend. Two methods:

- ``run_rate`` (before): month-to-date + the run rate x the days left;
- ``budgets`` (now): month-to-date + each day left's budget x the delivery ratio.

Two worlds:

- ``held 0.1`` / ``held 0.2``: budgetpilot holds the budgets from four weeks before the month;
  they change only through shifts (one a week, each budget moved by up to 10% / 20%, approved
  the day before it is applied: at 20% a shift moves about 10% of the portfolio's budget, the
  nightly job's auto-approve limit). A shift approved today is known; next week's is not.
- ``unannounced``: the sandbox's own history, where managers reset budgets by -40%..+50% every
  1-3 weeks without telling anyone. No forecast from today's budgets can foresee these; the
  figures show how much of the error is such changes.

It prints the worst and median absolute % error over every scope, month and seed per forecast
day, and how often the actual total fell inside the 80% range.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.sandbox import SandboxConnector, SimCampaign
from optimizer.pacing import BudgetOutlook, PacingResult, pace

FORECAST_DAYS = (5, 10, 15, 20, 25)
SEEDS = (7, 11, 23)
MONTHS = (dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1))
HISTORY_DAYS = 70
HELD_WEEKS_BEFORE = 4
SHIFT_EVERY_DAYS = 7
WEEKLY_CHANGES = (0.1, 0.2)  # a budget moves by up to this in a week's shift
Scope = tuple[str, str]


@dataclass(frozen=True)
class Error:
    world: str
    method: str
    day: int
    scope: Scope
    pct: float  # |forecast / actual - 1| x 100
    inside: bool  # the actual inside [low, high]


def month_days(month: dt.date) -> list[dt.date]:
    n = calendar.monthrange(month.year, month.month)[1]
    return [month.replace(day=i) for i in range(1, n + 1)]


def hold_budgets(sb: SandboxConnector, month: dt.date, seed: int,
                 change: float) -> dict[dt.date, dt.date]:
    """The ``held`` world: every budget set by us from four weeks before the month, then a
    shift a week. Returns each shift's effective day -> the day it was approved."""
    take_over = month - dt.timedelta(weeks=HELD_WEEKS_BEFORE)
    keys = {c.budget_key: c for c in sb.campaigns}
    for key, c in keys.items():
        sb.overrides[key] = [(take_over, sb.budget_on(c, take_over))]
    rng = np.random.default_rng([seed, month.toordinal(), 99])  # the shifts' own stream
    approved: dict[dt.date, dt.date] = {}
    first = take_over + dt.timedelta(days=int(rng.integers(1, SHIFT_EVERY_DAYS + 1)))
    end = month_days(month)[-1]
    day = first
    while day <= end:
        for key, c in sorted(keys.items()):
            factor = float(rng.uniform(1 - change, 1 + change))
            sb.overrides[key].append((day, round(sb.budget_on(c, day - dt.timedelta(days=1))
                                                 * factor, 2)))
        approved[day] = day - dt.timedelta(days=1)
        day += dt.timedelta(days=SHIFT_EVERY_DAYS)
    return approved


@dataclass
class World:
    """Per campaign and day: spend and its budget's amount, in EUR (the reporting currency)."""

    spend: dict[tuple[int, dt.date], float]
    budget: dict[tuple[str, dt.date], float]  # budget key x day
    scopes: dict[Scope, list[SimCampaign]]
    fx: dict[int, float]


def build_world(sb: SandboxConnector, days: list[dt.date]) -> World:
    active = [c for c in sb.campaigns if c.status == "ACTIVE"]
    fx = {c.index: 1.0 / c.account.fx_to_eur for c in active}
    spend = {(c.index, d): sb.true_day(c, d)[0] * fx[c.index] for c in active for d in days}
    # A shared budget's amount as its first campaign reads it (what the sync keeps).
    budget: dict[tuple[str, dt.date], float] = {}
    for c in active:
        for d in days:
            budget.setdefault((c.budget_key, d), sb.budget_on(c, d) * fx[c.index])
    scopes: dict[Scope, list[SimCampaign]] = defaultdict(list)
    for c in active:
        for key in (("total", ""), ("network", c.account.network),
                    ("account", f"{c.account.network}:{c.account.external_id}")):
            scopes[key].append(c)
    return World(spend, budget, dict(scopes), fx)


def _units(campaigns: Iterable[SimCampaign]) -> set[str]:
    return {c.budget_key for c in campaigns}  # a shared budget is one budget


def outlook(w: World, cs: list[SimCampaign], as_of: dt.date, month_end: dt.date,
            known_history: bool, approved: dict[dt.date, dt.date],
            prior: float | None) -> BudgetOutlook:
    """What the service knows of a scope's budgets on the morning after ``as_of``: today's
    budgets (the sync), the applied shifts' history when we made the changes, and shifts
    approved by today that take effect later."""
    today = as_of + dt.timedelta(days=1)
    units = _units(cs)
    current = sum(w.budget[(k, today)] for k in units)
    past_days = [as_of - dt.timedelta(days=i) for i in range(HISTORY_DAYS - 1)]
    past = {d: (sum(w.budget[(k, d)] for k in units) if known_history else current)
            for d in past_days}
    future: dict[dt.date, float] = {}
    day, level = today, current
    while day <= month_end:
        if approved.get(day, dt.date.max) <= today:  # approved, applied tonight
            level = sum(w.budget[(k, day)] for k in units)
        future[day] = level
        day += dt.timedelta(days=1)
    return BudgetOutlook(past=past, future=future, prior_ratio=prior)


def forecasts(seed: int, month: dt.date, world: str, forecast_days: tuple[int, ...]
              ) -> dict[tuple[int, Scope], tuple[PacingResult, float]]:
    """(forecast day, scope) -> (pacing on that day, the month's actual spend). ``world``:
    ``held 0.1`` (budgets held, a weekly shift moves each by up to 10%), or ``unannounced``."""
    sb = SandboxConnector(seed=seed)
    held = world.startswith("held")
    approved = hold_budgets(sb, month, seed, float(world.split()[1])) if held else {}
    mdays = month_days(month)
    start = month - dt.timedelta(days=HISTORY_DAYS)
    days = [start + dt.timedelta(days=i) for i in range((mdays[-1] - start).days + 2)]
    w = build_world(sb, days)
    out: dict[tuple[int, Scope], tuple[PacingResult, float]] = {}
    order = sorted(w.scopes, key=lambda s: ({"total": 0, "network": 1, "account": 2}[s[0]], s))
    for fday in forecast_days:
        as_of = month.replace(day=fday)
        priors: dict[str, float | None] = {}
        for scope in order:
            cs = w.scopes[scope]
            daily = {d: sum(w.spend[(c.index, d)] for c in cs) for d in days if d <= as_of}
            actual = sum(w.spend[(c.index, d)] for c in cs for d in mdays)
            prior = priors.get(cs[0].account.network) if scope[0] == "account" else None
            r = pace(daily, planned=actual, month=month, as_of=as_of,
                     budgets=outlook(w, cs, as_of, mdays[-1], held, approved, prior))
            if scope[0] == "network":
                priors[scope[1]] = r.delivery_ratio
            out[(fday, scope)] = (r, actual)
    return out


def replay_month(seed: int, month: dt.date, world: str,
                 forecast_days: tuple[int, ...] = FORECAST_DAYS) -> list[Error]:
    return [e for (day, scope), (r, actual) in forecasts(seed, month, world,
                                                          forecast_days).items()
            for e in _errors(world, day, scope, r, actual)]


def _errors(world: str, day: int, scope: Scope, r: PacingResult, actual: float) -> list[Error]:
    return [
        Error(world, "run_rate", day, scope, abs(r.run_rate_forecast / actual - 1) * 100, False),
        Error(world, "budgets", day, scope, abs(r.forecast / actual - 1) * 100,
              r.forecast_low <= actual <= r.forecast_high),
    ]


def replay(seeds: Iterable[int] = SEEDS, months: Iterable[dt.date] = MONTHS,
           worlds: Iterable[str] = (*(f"held {c}" for c in WEEKLY_CHANGES), "unannounced"),
           forecast_days: tuple[int, ...] = FORECAST_DAYS) -> list[Error]:
    return [e for world in worlds for seed in seeds for month in months
            for e in replay_month(seed, month, world, forecast_days)]


def summary(errors: list[Error]) -> dict[tuple[str, str, int], tuple[float, float, float]]:
    """(world, method, day) -> (worst %, median %, share inside the range)."""
    groups: dict[tuple[str, str, int], list[Error]] = defaultdict(list)
    for e in errors:
        groups[(e.world, e.method, e.day)].append(e)
    return {k: (max(e.pct for e in v), float(np.median([e.pct for e in v])),
                sum(e.inside for e in v) / len(v)) for k, v in groups.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--months", nargs="+", default=[f"{m:%Y-%m}" for m in MONTHS])
    args = parser.parse_args(argv)
    months = [dt.date.fromisoformat(f"{m}-01") for m in args.months]
    table = summary(replay(args.seeds, months))
    print(f"seeds {args.seeds}, months {args.months}; scopes: total, networks, accounts")
    print(f"{'world':<12} {'method':<9} " + " ".join(f"{'day ' + str(d):>16}" for d in
                                                       FORECAST_DAYS))
    for world in sorted({k[0] for k in table}):
        for method in ("run_rate", "budgets"):
            cells = [table[(world, method, d)] for d in FORECAST_DAYS]
            print(f"{world:<12} {method:<9} " + " ".join(
                f"{worst:6.1f}% /{median:5.1f}%  " for worst, median, _ in cells))
        inside = [table[(world, "budgets", d)][2] for d in FORECAST_DAYS]
        print(f"{'':<12} {'in range':<9} " + " ".join(f"{x:15.0%} " for x in inside))
    print("(worst / median absolute error of the end-of-month forecast; 'in range': share of "
          "actual totals inside the budgets method's 80% range)")


if __name__ == "__main__":
    main()
