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
from campaigns.models import AdAccount, AdSet, BudgetShift, Campaign, Portfolio, ShiftItem
from campaigns.scopes import account_key

PENDING_SHIFTS = ("approved", "applying", "partially_applied", "failed")
PENDING_ITEMS = ("approved", "applying", "failed")
WAITING_SHIFT, WAITING_ITEM = "proposed", "pending"
Scope = tuple[str, str]


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


@dataclass
class ScopeBudgets:
    past: dict[dt.date, float] = field(default_factory=dict)
    future: dict[dt.date, float] = field(default_factory=dict)
    shared: bool = False  # draws on a shared budget: its ratio is its share, not a pace
    proposed: dict[dt.date, float] = field(default_factory=dict)  # ``future`` if approved


def scope_budgets(lines: Iterable[BudgetLine], fx: FxTable, *, start: dt.date,
                  as_of: dt.date, month_end: dt.date,
                  campaign_keys: set[str]) -> dict[Scope, ScopeBudgets]:
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
    for line in lines:
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
    rates = {cur: _rates(fx, cur, past_days) for cur in {cur for _, cur in flat}}
    past: dict[Scope, np.ndarray] = {}
    future: dict[Scope, np.ndarray] = {}
    proposed: dict[Scope, np.ndarray] = {}
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
    future_days = [as_of + dt.timedelta(days=i + 1) for i in range(n_future)]

    def by_day(values: np.ndarray) -> dict[dt.date, float]:
        return dict(zip(future_days, values.tolist(), strict=True))

    return {key: ScopeBudgets(dict(zip(past_days, past[key].tolist(), strict=True)),
                              by_day(future[key]), key in shared,
                              by_day(proposed[key]) if key in proposed else {})
            for key in past}


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
