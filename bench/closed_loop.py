"""Closed-loop evaluation: the production path against a simulated market, day after day.

Each day of a scenario: yesterday's results and the restated last 30 days are written as a
CSV export and imported (`campaigns.ingest.csv_import.importer.import_csv`, what
`budgetpilot import-csv` runs), `campaigns.optimization.proposals.propose` (what
`budgetpilot optimize` runs) proposes budgets
from the stored history, and the proposed budgets are applied: they are the budgets the
market delivers that day and the `daily_budget` of the next export. Each run is scored on
the market's true expected results against static budgets and an oracle that knows the true
curves and moves under the same total, caps and max change from its own previous budgets:

    captured = (ours - static) / (oracle - static)

Limits are checked on every proposal (total, max change, campaign caps). `rev/30d` and
`back` are the budgets' churn (`bench.churn`): direction reversals per campaign and 30 days,
and the share of the money moved that was later moved back. Tune on
`--tuning` seeds; report on the default report seeds.

Run: python bench/closed_loop.py [--sizes 30 200] [--seeds 101 102 103] [--days 45]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import update
from sqlmodel import Session, col

from bench.churn import NO_CHURN, Churn, churn
from bench.market import FUNNELS, MAX_LAG, Market, history_budgets, make_market
from bench.oracle_parts import PARTS, with_true_parts
from campaigns.admin.caps import create_cap
from campaigns.admin.fx import RateIn, upsert_rates
from campaigns.admin.plans import create_plan
from campaigns.config import Settings
from campaigns.db import open_engine
from campaigns.ingest.csv_import.importer import import_csv
from campaigns.models import BudgetShift, ShiftItem
from campaigns.optimization import proposals
from campaigns.optimization.proposals import propose
from connectors.currencies import decimals
from optimizer.pacing import month_bounds

HISTORY_DAYS = 60
RESTATE_DAYS = 30
MAX_CHANGE = 0.2
START = dt.date(2026, 3, 2)
REPORT_SEEDS = (101, 102, 103)
TUNING_SEEDS = (1, 2, 3)
SCENARIOS = ("stable-conversions", "stable-revenue", "shift-conversions", "shift-revenue")
HEADER = ["date", "network", "account_id", "campaign_id", "campaign_name", "currency", "spend",
          "impressions", "clicks", "conversions", "revenue", "daily_budget"]


@dataclass(frozen=True)
class RunScore:
    scenario: str
    seed: int
    campaigns: int
    static: float
    ours: float
    oracle: float
    total_violations: int
    change_violations: int
    cap_violations: int
    failed_calls: int
    seconds: float
    edits: int = 0  # budgets changed over the run (each a platform edit)
    weekly_edits: int = 0  # the most edits one campaign got in any 7 days
    # Curve-estimate error per evaluation day (`--curve-error`): the mean |log| of the
    # proposal's expected result over the true one, and the spread across campaigns of the
    # log of its marginal return over the true one (what the split of the total rests on).
    level_error: tuple[float, ...] = ()
    slope_error: tuple[float, ...] = ()
    churn: Churn = NO_CHURN  # how much the budgets doubled back (bench.churn)
    # `--plans`: the worst and median |month's spend / plan - 1| of the networks' and
    # accounts' plans of the loop's first month
    plan_off: tuple[float, float] | None = None

    @property
    def captured(self) -> float:
        return (self.ours - self.static) / (self.oracle - self.static)


class _Loop:
    """The market's state and the database the production path reads."""

    def __init__(self, market: Market, workdir: Path, objective: str,
                 options: dict[str, str], clicks: bool = True,
                 oracle_part: str | None = None) -> None:
        self.market, self.workdir, self.objective = market, workdir, objective
        self.oracle_part = oracle_part  # the truth put into the fitted curves (oracle_parts)
        self.clicks = clicks  # False: the export leaves impressions and clicks blank
        n = market.base_budget.size
        self.spend = np.zeros((n, market.days))
        self.funnel = np.zeros((n, market.days, 2), dtype=np.int64)  # impressions, clicks
        self.arrivals = np.zeros((n, market.days, MAX_LAG + 1), dtype=np.int64)
        self.budget = np.zeros((n, market.days))
        self.revenue_noise = market.rng.gamma(8.0, 1 / 8.0, (n, market.days))
        url = f"sqlite:///{workdir / 'loop.db'}"
        self.settings = Settings.model_validate({"database": {"url": url},
                                                 "optimizer": options})
        self.engine = open_engine(url)
        self.ids = [f"c{i:05d}" for i in range(n)]
        self.cap: dict[int, float] = {}
        self.read: dict[str, tuple[float, float, float]] = {}

    def deliver(self, day: int, budget: np.ndarray) -> None:
        self.budget[:, day] = budget
        self.spend[:, day], self.arrivals[:, day] = self.market.deliver(budget, day)
        impressions, clicks = self.market.funnel(self.spend[:, day], day)
        self.funnel[:, day, 0], self.funnel[:, day, 1] = impressions, clicks

    def export(self, today: int, first: int) -> Path:
        """The CSV a network would export on `today` for days first..today-1."""
        m = self.market
        path = self.workdir / f"day{today:03d}.csv"
        with path.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(HEADER)
            for d in range(max(first, 0), today):
                date = (m.start + dt.timedelta(days=d)).isoformat()
                conv = self.arrivals[:, d, : today - d].sum(1)
                revenue = conv * m.value * m.per_eur * self.revenue_noise[:, d]
                counts = self.funnel[:, d] if self.clicks else np.full((len(self.ids), 2), "")
                for i, cid in enumerate(self.ids):
                    places = decimals(m.currency[i])
                    out.writerow([date, m.network[i], m.account[i], cid, cid, m.currency[i],
                                  f"{self.spend[i, d]:.{places}f}", *counts[i], int(conv[i]),
                                  f"{revenue[i]:.2f}", f"{self.budget[i, d]:.{places}f}"])
        return path

    def load(self, today: int, first: int) -> None:
        day = self.market.start + dt.timedelta(days=today)
        import_csv(self.engine, self.export(today, first), settings=self.settings, today=day)

    def add_plans(self, first: int, days: int) -> dict[tuple[str, str], float]:
        """A monthly plan (EUR) on every network and account for each month the loop runs
        in: the scope's spend over the 28 days before the loop, scaled to the month's days,
        as finance would plan it. Returns the first month's."""
        m = self.market
        recent = (self.spend[:, first - 28:first] * m.fx[:, None]).sum(axis=1)
        per_scope: dict[tuple[str, str], float] = {}
        for i in range(recent.size):
            for scope in (("network", str(m.network[i])),
                          ("account", f"{m.network[i]}:{m.account[i]}")):
                per_scope[scope] = per_scope.get(scope, 0.0) + float(recent[i])
        months = sorted({(m.start + dt.timedelta(days=d)).replace(day=1)
                         for d in range(first, first + days)})
        with Session(self.engine) as session:
            for month in months:
                length = month_bounds(month)[1].day
                for (scope, key), amount in per_scope.items():
                    create_plan(session, portfolio="default", month=month, scope=scope,
                                scope_key=key, planned_spend=Decimal(f"{amount * length / 28:.2f}"),
                                currency=None, actor="closed-loop")
            session.commit()
        return {k: v * month_bounds(months[0])[1].day / 28 for k, v in per_scope.items()}

    def plan_off(self, plans: dict[tuple[str, str], float], first: int,
                 days: int) -> tuple[float, float] | None:
        """How far each planned scope's spend of the loop's first month (EUR) ended from its
        plan: worst and median |spend / plan - 1|; None when the loop ends before it does."""
        m = self.market
        month = (m.start + dt.timedelta(days=first)).replace(day=1)
        start = (month - m.start).days
        end = start + month_bounds(month)[1].day
        if end > first + days:
            return None
        spent = (self.spend[:, start:end] * m.fx[:, None]).sum(axis=1)
        off = []
        for (scope, key), plan in plans.items():
            mine = [i for i in range(spent.size) if (str(m.network[i]) if scope == "network"
                    else f"{m.network[i]}:{m.account[i]}") == key]
            off.append(abs(float(spent[mine].sum()) / plan - 1))
        return float(np.max(off)), float(np.median(off))

    def add_fx_and_caps(self, rng: np.random.Generator) -> None:
        m = self.market
        rates = [RateIn(m.start + dt.timedelta(days=d), cur, "EUR", Decimal(f"{1 / per:.6f}"))
                 for d in range(m.days + 1)
                 for cur, per in {(c, p) for c, p in zip(m.currency, m.per_eur, strict=True)}
                 if cur != "EUR"]
        # A tenth of the campaigns carry a manager's max at 1.1-1.4x their base (EUR).
        capped = np.flatnonzero(rng.random(m.base_budget.size) < 0.1)
        with Session(self.engine) as session:
            upsert_rates(session, rates, actor="closed-loop")
            for i in capped:
                high = round(float(m.base_budget[i] * m.fx[i] * rng.uniform(1.1, 1.4)), 2)
                self.cap[int(i)] = high
                create_cap(session, portfolio="default", scope="campaign",
                           scope_key=f"{m.network[i]}:{m.account[i]}:{self.ids[i]}",
                           min_daily=None, max_daily=Decimal(repr(high)), max_change=None,
                           locked=False, actor="closed-loop")
            session.commit()

    def optimise(self, today: int, total: float) -> np.ndarray:
        day = self.market.start + dt.timedelta(days=today)
        now = dt.datetime.combine(day, dt.time(3), tzinfo=dt.UTC)
        fit = proposals.fit_results
        if self.oracle_part is not None:  # the budgets run on day `today` (deliver)
            proposals.fit_results = with_true_parts(fit, self.market, today, self.oracle_part)
        try:
            return self._propose(today, total, day, now)
        finally:
            proposals.fit_results = fit

    def _propose(self, today: int, total: float, day: dt.date,
                 now: dt.datetime) -> np.ndarray:
        with Session(self.engine, expire_on_commit=False) as session:
            result = propose(session, self.settings, total_budget=total,
                             objective=self.objective, max_change=MAX_CHANGE,
                             created_by="closed-loop", today=day, now=now)
            if result.shift_id is not None:  # applied at once, as the nightly job would
                session.execute(update(ShiftItem)
                                .where(col(ShiftItem.shift_id) == result.shift_id)
                                .values(status="applied", applied_at=now,
                                        applied_budget=col(ShiftItem.new_budget)))
                session.execute(update(BudgetShift)
                                .where(col(BudgetShift.id) == result.shift_id)
                                .values(status="applied"))
            session.commit()
        proposed = {a.campaign_id: a.proposed_budget for a in result.allocations}
        self.read = {a.campaign_id: (a.expected_conversions, a.expected_revenue, a.marginal_roi)
                     for a in result.allocations}
        return np.asarray([proposed[c] for c in self.ids])

    def curve_error(self, day: int, budget: np.ndarray) -> tuple[float, float]:
        """How far the proposal's curves are from the truth at the proposed budgets, on
        the day they were planned for (production plans for the weekday after `today`)."""
        m = self.market
        planned = min(day + 1, m.days - 1)
        worth = m.value if self.objective == "revenue" else np.ones(budget.size)
        read = np.asarray([self.read[c] for c in self.ids])
        level = read[:, 1] if self.objective == "revenue" else read[:, 0]
        true_level = m.expected(budget, planned) * worth
        true_slope = m.marginal(budget, planned) * worth / m.fx  # per EUR spent
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.log(level / true_level)
            slope = np.log(read[:, 2] / true_slope)
        ok = np.isfinite(off) & np.isfinite(slope)
        return float(np.abs(off[ok]).mean()), float(np.std(slope[ok]))


def oracle_budgets(market: Market, day: int, previous: np.ndarray, total: float,
                   cap: dict[int, float], objective: str) -> np.ndarray:
    """Best budgets on the true curves for `day`, within the same limits as ours: the
    total (EUR), caps (EUR) and the max change from the oracle's own previous budgets."""
    fx = market.fx
    low = previous * (1 - MAX_CHANGE)
    high = previous * (1 + MAX_CHANGE)
    for i, limit in cap.items():
        high[i] = min(high[i], limit / fx[i])
        low[i] = min(low[i], high[i])
    value = market.value if objective == "revenue" else np.ones(fx.size)

    def spend_at(price: float) -> np.ndarray:  # per unit: where marginal (EUR) = price
        lo, hi = low.copy(), high.copy()
        for _ in range(40):
            mid = (lo + hi) / 2
            above = market.marginal(mid, day) * value / fx > price
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return (lo + hi) / 2

    if (high * fx).sum() <= total:
        return high
    p_lo, p_hi = 0.0, float((market.marginal(low, day) * value / fx).max()) * 2
    for _ in range(50):
        price = (p_lo + p_hi) / 2
        if (spend_at(price) * fx).sum() > total:
            p_lo = price
        else:
            p_hi = price
    return spend_at(p_hi)


def run(scenario: str, n: int, seed: int, days: int,
        options: dict[str, str] | None = None, *, funnel: str = "mixed",
        clicks: bool = True, oracle_part: str | None = None,
        plans: bool = False) -> RunScore:
    """One scenario through the production path; returns its score. `funnel` splits the
    market's saturation between delivery and conversion rate (`bench.market.FUNNELS`);
    `clicks=False` exports no impressions or clicks (the optimiser reads conversions only);
    `oracle_part` (`bench.oracle_parts.PARTS`) puts the true slope, level or both into the
    fitted curves before each allocation; `plans` sets a monthly plan on every network and
    account (`_Loop.add_plans`), which the runs keep to with `follow_plans=true`."""
    started = time.perf_counter()
    objective = scenario.split("-")[1]
    shift_day = HISTORY_DAYS + days // 3 if scenario.startswith("shift") else None
    market = make_market(n, seed=seed, start=START - dt.timedelta(days=HISTORY_DAYS),
                         days=HISTORY_DAYS + days, shift_day=shift_day, funnel=funnel)
    worth = market.value if objective == "revenue" else np.ones(n)
    with tempfile.TemporaryDirectory() as tmp:
        loop = _Loop(market, Path(tmp), objective, options or {}, clicks, oracle_part)
        for d, budget in enumerate(history_budgets(market, HISTORY_DAYS).T):
            loop.deliver(d, budget)
        loop.load(HISTORY_DAYS, 0)
        loop.add_fx_and_caps(np.random.default_rng(seed + 7))
        planned = loop.add_plans(HISTORY_DAYS, days) if plans else None
        static = market.base_budget
        total = float((static * market.fx).sum())
        oracle = static.copy()
        # What the database holds: the export writes budgets to the currency's minor unit,
        # so a budget the first run keeps is not counted as an edit.
        ours = np.asarray([round(float(b), decimals(c))
                           for b, c in zip(static, market.currency, strict=True)])
        score = {"static": 0.0, "ours": 0.0, "oracle": 0.0}
        bad = {"total": 0, "change": 0, "cap": 0, "failed": 0}
        edited = np.zeros((n, days), dtype=bool)
        errors: list[tuple[float, float]] = []
        for d in range(HISTORY_DAYS, HISTORY_DAYS + days):
            if d > HISTORY_DAYS:
                loop.load(d, d - RESTATE_DAYS)
            try:
                proposed = loop.optimise(d, total)
            except Exception as e:  # counted: a failed call is a failed day, not a crash
                print(f"  {scenario} seed {seed} day {d}: {type(e).__name__}: {e}",
                      file=sys.stderr)
                bad["failed"] += 1
                proposed = ours
            _check(proposed, ours, market, total, loop.cap, bad)
            if loop.read:
                errors.append(loop.curve_error(d, proposed))
            edited[:, d - HISTORY_DAYS] = proposed != ours
            ours = proposed
            oracle = oracle_budgets(market, d, oracle, total, loop.cap, objective)
            loop.deliver(d, ours)
            for name, b in (("static", static), ("ours", ours), ("oracle", oracle)):
                score[name] += float((market.expected(b, d) * worth).sum())
        loop.engine.dispose()
        plan_off = loop.plan_off(planned, HISTORY_DAYS, days) if planned else None
        # From the last history day's budgets, in EUR so the money moved adds up.
        path = loop.budget[:, HISTORY_DAYS - 1:] * market.fx[:, None]
    return RunScore(scenario, seed, n, score["static"], score["ours"], score["oracle"],
                    bad["total"], bad["change"], bad["cap"], bad["failed"],
                    time.perf_counter() - started, int(edited.sum()), _weekly_max(edited),
                    tuple(e[0] for e in errors), tuple(e[1] for e in errors), churn([path]),
                    plan_off)


def _weekly_max(edited: np.ndarray) -> int:
    """The most edits any campaign got in a window of 7 consecutive days."""
    if edited.shape[1] == 0:
        return 0
    counts = np.cumsum(np.pad(edited.astype(int), ((0, 0), (1, 0))), axis=1)
    window = min(7, edited.shape[1])
    return int((counts[:, window:] - counts[:, :-window]).max())


def _check(proposed: np.ndarray, current: np.ndarray, market: Market, total: float,
           cap: dict[int, float], bad: dict[str, int]) -> None:
    """Count broken limits, allowing one billable unit of rounding per campaign."""
    step = np.asarray([10.0 ** -decimals(c) for c in market.currency])
    if (proposed * market.fx).sum() > total + 1e-6:
        bad["total"] += 1
    moved = np.abs(proposed - current)
    bad["change"] += int((moved > MAX_CHANGE * current + step).sum())
    for i, limit in cap.items():
        if proposed[i] * market.fx[i] > limit + step[i] * market.fx[i]:
            bad["cap"] += 1


def table(scores: list[RunScore]) -> str:
    head = (f"{'seed':>5} {'campaigns':>9} {'static':>12} {'ours':>12} {'oracle':>12} "
            f"{'uplift':>7} {'captured':>8} {'viol tot/chg/cap':>16} {'failed':>6} {'edits':>6} "
            f"{'max/7d':>6} {'rev/30d':>7} {'back':>5} {'s':>6}")
    lines = [f"scenario {scores[0].scenario}", head]
    for s in scores:
        lines.append(
            f"{s.seed:>5} {s.campaigns:>9} {s.static:>12,.1f} {s.ours:>12,.1f} "
            f"{s.oracle:>12,.1f} {s.ours / s.static - 1:>+7.2%} {s.captured:>8.3f} "
            f"{f'{s.total_violations}/{s.change_violations}/{s.cap_violations}':>16} "
            f"{s.failed_calls:>6} {s.edits:>6} {s.weekly_edits:>6} {s.churn.reversals:>7.1f} "
            f"{s.churn.moved_back:>5.0%} {s.seconds:>6.1f}")
    mean = np.mean([s.captured for s in scores])
    lines.append(f"{'mean':>5} {'':>9} {'':>12} {'':>12} {'':>12} {'':>7} {mean:>8.3f}")
    for s in scores:
        if s.plan_off is not None:
            lines.append(f"seed {s.seed}, {s.campaigns} campaigns: the first month's spend "
                         f"against the networks' and accounts' plans: worst "
                         f"{s.plan_off[0]:.1%}, median {s.plan_off[1]:.1%} off")
    return "\n".join(lines)


def error_table(scores: list[RunScore]) -> str:
    """Curve-estimate error by stretch of the run: mean |log(expected / true)| at the
    proposed budgets, and the spread across campaigns of log(marginal / true marginal)."""
    stretches = ((0, 5), (5, 15), (15, 30), (30, 45))
    head = f"{'seed':>5} {'campaigns':>9} " + " ".join(
        f"{f'days {a}-{b} lvl/slope':>22}" for a, b in stretches)
    lines = [f"curve error {scores[0].scenario}", head]
    for s in scores:
        cells = []
        for a, b in stretches:
            lv, sl = s.level_error[a:b], s.slope_error[a:b]
            cells.append(f"{f'{np.mean(lv):.3f}/{np.mean(sl):.3f}' if lv else '-':>22}")
        lines.append(f"{s.seed:>5} {s.campaigns:>9} " + " ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"report seeds (default {REPORT_SEEDS})")
    parser.add_argument("--tuning", action="store_true",
                        help=f"use the tuning seeds {TUNING_SEEDS} instead")
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--curve-error", action="store_true",
                        help="also print how far the fitted curves are from the true ones")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="[optimizer] settings for the run (exploration=none, ...)")
    parser.add_argument("--funnel", default="mixed", choices=FUNNELS,
                        help="where the saturation lives: mixed (each campaign's share in "
                             "delivery uniform 0-1) or conversion-rate (clicks say nothing)")
    parser.add_argument("--no-clicks", action="store_true",
                        help="export no impressions or clicks: the optimiser reads "
                             "conversions only (the same market)")
    parser.add_argument("--plans", action="store_true",
                        help="a monthly plan on every network and account (the spend of the "
                             "28 days before, scaled); with --set follow_plans=true the runs "
                             "keep to them")
    parser.add_argument("--oracle-part", choices=PARTS, default=None,
                        help="put the market's true elasticity (slope), level (scale) or "
                             "both into the fitted curves before each allocation")
    args = parser.parse_args(argv)
    options = dict(item.split("=", 1) for item in args.set)
    seeds = args.seeds or (TUNING_SEEDS if args.tuning else REPORT_SEEDS)
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average); {args.days} days; seeds "
          f"{list(seeds)}; optimizer {options or 'defaults'}; funnel {args.funnel}, clicks "
          f"{'not exported' if args.no_clicks else 'exported'}"
          + (f"; true {args.oracle_part} in the curves" if args.oracle_part else ""))
    for scenario in args.scenarios:
        scores = [run(scenario, n, seed, args.days, options, funnel=args.funnel,
                      clicks=not args.no_clicks, oracle_part=args.oracle_part,
                      plans=args.plans)
                  for n in args.sizes for seed in seeds]
        print(table(scores), end="\n\n", flush=True)
        if args.curve_error:
            print(error_table(scores), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
