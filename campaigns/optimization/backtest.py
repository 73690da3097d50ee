"""Backtest: nightly re-optimisation against static budgets on the sandbox platform.

Two copies of the same seeded sandbox run forward day by day. In one, every morning the
optimiser fits curves on the history the platform reports that day (lagged conversions and
all), and the proposed budgets are written back; in the other, the budgets stay at their
starting values. Both spend the same daily total. Each day is scored on the simulation's
true expected conversions and revenue (no noise), so the uplift measures the decisions, not
luck.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from campaigns.optimization.curve_fits import fit_results
from connectors.base import BudgetTarget
from connectors.currencies import minor_unit
from connectors.sandbox import SandboxConnector
from connectors.sandbox_world import SimCampaign
from optimizer import Exploration, Limits, optimize_budgets

HISTORY_DAYS = 97
SETTLED_AGE = 40  # reported conversions no longer restate after this many days


@dataclass(frozen=True)
class SandboxUnit:
    key: str
    campaigns: tuple[SimCampaign, ...]
    target: BudgetTarget
    fx: float  # account currency -> EUR


@dataclass(frozen=True)
class WorldTotals:
    conversions: float
    revenue: float
    spend: float


@dataclass(frozen=True)
class BacktestResult:
    start: dt.date
    days: int
    total_budget: float
    static: WorldTotals
    optimised: WorldTotals
    daily: pd.DataFrame

    @property
    def conversion_uplift(self) -> float:
        return self.optimised.conversions / self.static.conversions - 1

    @property
    def revenue_uplift(self) -> float:
        return self.optimised.revenue / self.static.revenue - 1


def run_backtest(
    *,
    days: int = 30,
    start: dt.date = dt.date(2026, 6, 1),
    seed: int = 7,
    campaigns_per_account: int = 6,
    objective: str = "conversions",
    max_change: float = 0.2,
    lag_days: int = 7,
    exploration: Exploration | None = None,
) -> BacktestResult:
    exploration = exploration or Exploration()
    worlds = {
        name: SandboxConnector(seed=seed, campaigns_per_account=campaigns_per_account,
                               now=_noon(start))
        for name in ("static", "optimised")
    }
    units = sandbox_units(worlds["optimised"])
    starting = {u.key: worlds["static"].budget_on(u.campaigns[0], start) for u in units}
    for unit in units:  # hold the static world at its starting budgets
        _apply(worlds["static"], unit, starting[unit.key])
    total = sum(starting[u.key] * u.fx for u in units)
    cache: dict[tuple[int, dt.date], tuple[float, float, float]] = {}
    rows = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for world in worlds.values():
            world.set_now(_noon(day))
        _reoptimise(worlds["optimised"], units, day, total, objective, max_change, lag_days,
                    exploration, cache)
        for name, world in worlds.items():
            conv, revenue, spend = _score(world, units, day)
            rows.append({"date": day, "world": name, "conversions": conv,
                         "revenue": revenue, "spend": spend})
    daily = pd.DataFrame(rows)
    sums = daily.groupby("world")[["conversions", "revenue", "spend"]].sum()
    return BacktestResult(
        start=start, days=days, total_budget=total,
        static=WorldTotals(*sums.loc["static"].tolist()),
        optimised=WorldTotals(*sums.loc["optimised"].tolist()),
        daily=daily,
    )


def sandbox_units(sandbox: SandboxConnector) -> list[SandboxUnit]:
    """One unit per budget: a campaign's own, an ad set's, or a shared Google budget."""
    groups: dict[tuple[str, str], list[SimCampaign]] = {}
    for c in sandbox.campaigns:
        if c.status == "ACTIVE":
            groups.setdefault((c.account.external_id, c.budget_key), []).append(c)
    units = []
    for (account_id, key), members in groups.items():
        account = members[0].account
        target = BudgetTarget(account_id, members[0].level, key, account.currency)
        units.append(SandboxUnit(f"{account_id}:{key}", tuple(members), target,
                                 1.0 / account.fx_to_eur))
    return units


def _noon(day: dt.date) -> dt.datetime:
    # Noon UTC is the same calendar day in every sandbox account's time zone.
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def _apply(sandbox: SandboxConnector, unit: SandboxUnit, amount: float) -> None:
    step = minor_unit(unit.target.currency)
    budget = Decimal(repr(amount)).quantize(step, ROUND_HALF_UP)
    if budget > 0:
        sandbox.apply_budget(unit.target, budget)


def _history(
    sandbox: SandboxConnector, units: list[SandboxUnit], today: dt.date,
    cache: dict[tuple[int, dt.date], tuple[float, float, float]],
) -> pd.DataFrame:
    records = []
    for offset in range(1, HISTORY_DAYS + 1):
        day = today - dt.timedelta(days=offset)
        for unit in units:
            for c in unit.campaigns:
                values = cache.get((c.index, day))
                if values is None:
                    m = sandbox.day_metrics(c, day, today)
                    values = (float(m.spend), float(m.conversions), float(m.revenue))
                    if offset > SETTLED_AGE:
                        cache[(c.index, day)] = values
                records.append((unit.key, c.account.network, day, *values))
    return pd.DataFrame.from_records(
        records, columns=["unit_id", "network", "date", "spend", "conversions", "revenue"]
    )


def _reoptimise(
    sandbox: SandboxConnector, units: list[SandboxUnit], day: dt.date, total: float,
    objective: str, max_change: float, lag_days: int, exploration: Exploration,
    cache: dict[tuple[int, dt.date], tuple[float, float, float]],
) -> None:
    frame = pd.DataFrame({
        "unit_id": [u.key for u in units],
        "network": [u.campaigns[0].account.network for u in units],
        "account_id": [u.target.account_external_id for u in units],
        "current_budget": [sandbox.budget_on(u.campaigns[0], day) for u in units],
        "fx": [u.fx for u in units],
    })
    history = _history(sandbox, units, day, cache)
    curves = fit_results(history, units=frame, today=day, lag_days=lag_days,
                         seed=exploration.seed)
    plan = optimize_budgets(
        frame, curves["conversions"], curves["revenue"],
        Limits(total_budget=total, max_change=max_change), objective=objective,
        exploration=exploration, weekday=day.weekday(), currency="EUR",
    )
    for unit, proposed in zip(units, plan.allocations["proposed_budget"], strict=True):
        _apply(sandbox, unit, float(proposed))


def _score(
    sandbox: SandboxConnector, units: list[SandboxUnit], day: dt.date
) -> tuple[float, float, float]:
    conversions = revenue = spend = 0.0
    for unit in units:
        for c in unit.campaigns:
            s, conv, rev = sandbox.true_day(c, day)
            conversions += conv
            revenue += rev * unit.fx
            spend += s * unit.fx
    return conversions, revenue, spend
