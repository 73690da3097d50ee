"""The daily budgets pacing forecasts from: each budget's amount on recent days and on the
days left in the month, per scope, in the reporting currency.

A budget's amount today is what the last sync read (``Campaign.daily_budget``, or the active
ad sets' budgets where the budget lives on ad sets). Going back, every shift item applied to
it puts its old budget on the days before the one it was applied on; changes made on the
platform by hand are not known, so those days keep the later amount. Going forward, an
approved shift's items not yet applied hold from tomorrow (the next apply writes them), and
a proposal waiting for approval is kept beside them (``proposed``): the automation's next
move, which the forecast expects from tomorrow (approved today, applied at the next run).
A shared budget counts once however many campaigns draw on it.

After the known budgets, the optimiser's later runs go on moving them: each run stores its
targets (every budget without the max-change limit), and ``heading`` is each scope's budget
if the runs, at their cadence, keep moving every budget towards the mean of the recent runs'
targets by at most the limit (:func:`optimizer.pacing.heading_path`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.errors import FxRateMissingError
from campaigns.models import (
    AdAccount,
    AdSet,
    BudgetShift,
    Campaign,
    OptimizationRun,
    Portfolio,
    ShiftItem,
)
from campaigns.scopes import account_key
from optimizer.pacing import heading_path

PENDING_SHIFTS = ("approved", "applying", "partially_applied", "failed")
PENDING_ITEMS = ("approved", "applying", "failed")
WAITING_SHIFT, WAITING_ITEM = "proposed", "pending"
Scope = tuple[str, str]
LineKey = tuple[int, str, str]  # account id, level, target external id
CADENCE_DAYS = 28  # the runs' cadence is read from this many days of them


@dataclass
class BudgetLine:
    """One daily budget: where it lives and what it was, is and will be (account currency)."""

    account: AdAccount
    level: str
    target: str
    current: Decimal
    campaign_keys: list[str] = field(default_factory=list)
    applied: list[tuple[dt.date, Decimal]] = field(default_factory=list)  # (day, old budget)
    approved: Decimal | None = None
    proposed: Decimal | None = None  # a pending item of a proposal waiting for approval


def budget_lines(session: Session, portfolio: Portfolio, since: dt.date) -> list[BudgetLine]:
    """The portfolio's active daily budgets, with the shifts applied since ``since`` and the
    approved ones not yet applied. Columns, not ORM rows: a portfolio has many campaigns."""
    accounts = {a.id: a for a in session.scalars(
        select(AdAccount).where(col(AdAccount.portfolio_id) == portfolio.id))}
    c = Campaign
    rows = session.execute(
        select(col(c.id), col(c.account_id), col(c.external_id), col(c.budget_level),
               col(c.budget_external_id), col(c.daily_budget))
        .where(col(c.account_id).in_(accounts), col(c.status) == "active")
        .order_by(col(c.id))
    ).all()
    lines: dict[tuple[int, str, str], BudgetLine] = {}
    adset_owners: dict[int, tuple[int, str]] = {}
    for cid, account_id, ext, budget_level, budget_ext, daily_budget in rows:
        account = accounts[account_id]
        if budget_level == "adset":
            adset_owners[cid] = (account_id, f"{account_key(account)}:{ext}")
            continue
        if not daily_budget:
            continue
        level = "shared" if budget_level == "shared" else "campaign"
        target = budget_ext or ext
        line = lines.setdefault((account_id, level, target), BudgetLine(
            account, level, target, Decimal(daily_budget)))
        line.campaign_keys.append(f"{account_key(account)}:{ext}")
    if adset_owners:
        a = AdSet
        for campaign_id, ext, daily_budget in session.execute(
            select(col(a.campaign_id), col(a.external_id), col(a.daily_budget)).where(
                col(a.campaign_id).in_(adset_owners), col(a.status) == "active")
        ):
            if daily_budget:
                account_id, key = adset_owners[campaign_id]
                lines[(account_id, "adset", ext)] = BudgetLine(
                    accounts[account_id], "adset", ext, Decimal(daily_budget), [key])
    _attach_shifts(session, portfolio, lines, since)
    return list(lines.values())


def _attach_shifts(session: Session, portfolio: Portfolio,
                   lines: dict[tuple[int, str, str], BudgetLine], since: dt.date) -> None:
    if not lines:
        return
    items = session.execute(
        select(ShiftItem, col(BudgetShift.status), col(Campaign.account_id))
        .join(BudgetShift, col(BudgetShift.id) == col(ShiftItem.shift_id))
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .where(col(BudgetShift.portfolio_id) == portfolio.id,
               col(BudgetShift.updated_at) >= dt.datetime.combine(since, dt.time(), dt.UTC))
        .order_by(col(ShiftItem.id))
    ).all()
    for item, shift_status, account_id in items:
        line = lines.get((account_id, item.level, item.target_external_id))
        if line is None:
            continue
        if item.status == "applied" and item.applied_at is not None:
            zone = ZoneInfo(line.account.timezone or "UTC")
            day = item.applied_at.replace(tzinfo=item.applied_at.tzinfo or dt.UTC)
            line.applied.append((day.astimezone(zone).date(), Decimal(item.old_budget)))
        elif shift_status in PENDING_SHIFTS and item.status in PENDING_ITEMS:
            line.approved = Decimal(item.new_budget)
        elif shift_status == WAITING_SHIFT and item.status == WAITING_ITEM:
            # an out-of-time proposal is marked expired by the job that expires them
            line.proposed = Decimal(item.new_budget)  # items in id order: the newest wins


@dataclass(frozen=True)
class Heading:
    """What the optimiser's recent runs say of the days after the known budgets."""

    targets: dict[LineKey, float]  # each budget's mean target (account currency)
    last_run: dt.date
    every: int  # days between runs
    max_change: float
    min_change: float
    # the last run kept the planned networks and accounts within this of their plans' pace
    # (``[optimizer] follow_plans``); None: it did not
    plan_band: float | None = None

    def runs(self, days: list[dt.date], after: dt.date) -> np.ndarray:
        """Which of ``days`` have a run moving budgets after ``after``."""
        return np.array([d > after and (d - self.last_run).days % self.every == 0
                         for d in days], dtype=bool)


def optimiser_heading(session: Session, portfolio: Portfolio, today: dt.date,
                      target_days: int) -> Heading | None:
    """The mean target per budget over the runs of the ``target_days`` days up to ``today``
    (at least the last run's), their cadence (the median gap between run days over four
    weeks; one run: nightly) and limit; ``None`` without a run that stored targets then."""
    since = dt.datetime.combine(today - dt.timedelta(days=CADENCE_DAYS), dt.time(), dt.UTC)
    until = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows = session.execute(
        select(col(OptimizationRun.created_at), col(OptimizationRun.targets))
        .where(col(OptimizationRun.portfolio_id) == portfolio.id,
               col(OptimizationRun.created_at) >= since,
               col(OptimizationRun.created_at) < until,
               col(OptimizationRun.targets).is_not(None))
        .order_by(col(OptimizationRun.created_at))
    ).all()
    runs = [(at.date(), targets) for at, targets in rows if targets and targets.get("budgets")]
    if not runs:
        return None
    days = sorted({day for day, _ in runs})
    gaps = np.diff([d.toordinal() for d in days])
    every = max(1, round(float(np.median(gaps)))) if len(gaps) else 1
    last_day, last = runs[-1]
    recent = [t for day, t in runs if (today - day).days < target_days] or [last]
    sums: dict[LineKey, list[float]] = defaultdict(list)
    for t in recent:
        for account_id, level, target, amount in t["budgets"]:
            sums[(int(account_id), str(level), str(target))].append(float(amount))
    band = last.get("plan_band")
    return Heading({k: float(np.mean(v)) for k, v in sums.items()}, last_day, every,
                   float(last.get("max_change", 0.0)), float(last.get("min_change", 0.0)),
                   None if band is None else float(band))


@dataclass
class ScopeBudgets:
    past: dict[dt.date, float] = field(default_factory=dict)
    future: dict[dt.date, float] = field(default_factory=dict)
    shared: bool = False  # draws on a shared budget: its ratio is its share, not a pace
    proposed: dict[dt.date, float] = field(default_factory=dict)  # ``future`` if approved
    heading: dict[dt.date, float] = field(default_factory=dict)  # the optimiser's path


def scope_budgets(lines: Iterable[BudgetLine], fx: FxTable, *, start: dt.date,
                  as_of: dt.date, month_end: dt.date,
                  campaign_keys: set[str],
                  heading: Heading | None = None) -> dict[Scope, ScopeBudgets]:
    """Each scope's budget per day from ``start`` to the month's end, in the reporting
    currency (a future day at the last known rate). A budget without an FX rate is left out:
    its scopes forecast from the budgets that have one, or from the run rate."""
    n_past, n_future = (as_of - start).days + 1, max(0, (month_end - as_of).days)
    past_days = [start + dt.timedelta(days=i) for i in range(n_past)]
    # Sums per (scope, currency) in the account currency; only a budget a shift moved needs
    # an array of its own, so many budgets cost a few additions each.
    flat: dict[tuple[Scope, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    moved: dict[tuple[Scope, str], np.ndarray] = {}
    shared: set[Scope] = set()
    waiting: set[Scope] = set()
    future_days = [as_of + dt.timedelta(days=i + 1) for i in range(n_future)]
    lines = list(lines)
    paths = _paths(lines, heading, future_days) if heading and n_future else None
    members: dict[tuple[Scope, str], list[int]] = defaultdict(list)  # lines on the path
    for n, line in enumerate(lines):
        cur, now = line.account.currency, float(line.current)
        later = now if line.approved is None else float(line.approved)  # tonight's apply
        after = later if line.proposed is None else float(line.proposed)
        history = None
        if line.applied:
            history = np.full(n_past, now)
            for applied_on, old in sorted(line.applied, reverse=True):  # latest first
                history[:max(0, min(n_past, (applied_on - start).days))] = float(old)
        keys: list[Scope] = [("total", ""), ("network", line.account.network),
                             ("account", account_key(line.account))]
        keys += [("campaign", k) for k in line.campaign_keys if k in campaign_keys]
        for key in keys:
            sums = flat[(key, cur)]
            sums[1] += now
            sums[2] += later
            sums[3] += after
            if line.proposed is not None:
                waiting.add(key)
            if history is None:
                sums[0] += now
            else:
                moved[(key, cur)] = moved.get((key, cur), np.zeros(n_past)) + history
            if key[0] == "campaign" and line.level == "shared":
                shared.add(key)
            if paths is not None:
                members[(key, cur)].append(n)
    # one sum per scope over its lines' paths, not an array addition per line and scope
    headed = {k: paths[v].sum(axis=0) for k, v in members.items()} if paths is not None else {}
    rates = {cur: _rates(fx, cur, past_days) for cur in {cur for _, cur in flat}}
    past: dict[Scope, np.ndarray] = {}
    future: dict[Scope, np.ndarray] = {}
    proposed: dict[Scope, np.ndarray] = {}
    path: dict[Scope, np.ndarray] = {}
    for (key, cur), (steady, today, later, after) in flat.items():
        rate = rates[cur]
        if rate is None:
            continue
        amounts = moved.get((key, cur), 0.0) + steady
        past[key] = past.get(key, 0.0) + amounts * rate
        ahead = np.full(n_future, later * rate[-1])
        ahead[:1] = today * rate[-1]
        future[key] = future.get(key, 0.0) + ahead
        if key in waiting:
            ahead = np.full(n_future, after * rate[-1])
            ahead[:1] = today * rate[-1]
            proposed[key] = proposed.get(key, 0.0) + ahead
        if (key, cur) in headed:
            path[key] = path.get(key, 0.0) + headed[(key, cur)] * rate[-1]

    def by_day(values: np.ndarray) -> dict[dt.date, float]:
        return dict(zip(future_days, values.tolist(), strict=True))

    return {key: ScopeBudgets(dict(zip(past_days, past[key].tolist(), strict=True)),
                              by_day(future[key]), key in shared,
                              by_day(proposed[key]) if key in proposed else {},
                              by_day(path[key]) if key in path else {})
            for key in past}


def _paths(lines: list[BudgetLine], heading: Heading,
           days: list[dt.date]) -> np.ndarray:
    """Each budget on each day left along the optimiser's path: today's budget, the known
    one (approved, or a waiting proposal) from tomorrow, then the runs after it."""
    now = np.array([float(x.current) for x in lines])
    after = np.array([float(x.proposed if x.proposed is not None else
                            x.approved if x.approved is not None else x.current)
                      for x in lines])
    pending = np.array([x.proposed is not None or x.approved is not None for x in lines])
    target = np.array([heading.targets.get((x.account.id or 0, x.level, x.target), float(b))
                       for x, b in zip(lines, after, strict=True)])
    out = np.empty((len(lines), len(days)))
    # Runs move budgets from tomorrow on; a known move is tonight's apply, so from the day
    # after it.
    for mask, start, known in ((pending, after, 1), (~pending, now, 0)):
        if mask.any():
            runs = heading.runs(days, days[min(known, len(days) - 1)])
            out[mask] = heading_path(start[mask], target[mask], runs,
                                     max_change=heading.max_change,
                                     min_change=heading.min_change)
    out[pending, 0] = now[pending]  # today's budget is what the sync read
    return out


def _rates(fx: FxTable, currency: str, days: list[dt.date]) -> np.ndarray | None:
    """Each day's rate (a day before the first loaded rate takes the next one); ``None``
    without a rate on the last day."""
    out = np.zeros(len(days))
    known: float | None = None
    for i in range(len(days) - 1, -1, -1):
        try:
            known = float(fx.rate(currency, days[i]))
        except FxRateMissingError:
            if known is None:
                return None
        out[i] = known
    return out
