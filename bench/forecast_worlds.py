"""The budget paths the forecast replay runs on: who moves the sandbox's budgets, and what the
service knows of each move on the morning it forecasts.

- ``nightly C`` / ``weekly C``: budgetpilot holds every budget from four weeks before the
  month and only its own runs move them — the optimiser itself (curves fitted on what the
  platform reports that night, the portfolio's total kept, each budget moved by at most ``C``
  per run, moves under 1% not made), every night or once a week. A run moving at most 10% of
  the portfolio's budget is auto-approved and applied that night (the nightly job's limit); a
  larger one waits as a proposal until a manager approves it the next day and is applied the
  night after. Their direction persists from run to run, as the real nightly's does. The
  runs hold moves their edit policy (``EditPolicy``, as [optimizer] sets it) finds not worth
  making; by default none.
- ``planned C``: as ``nightly C``, with a monthly plan on every network and account that the
  runs follow (``[optimizer] follow_plans``, ``plan_band`` 5%): finance planned each scope's
  spend of the four weeks before the month, scaled to the month's days. Money moves between
  those scopes only within their plans' ranges; campaigns trade budget freely inside them.
- ``random C``: held as above, but each week every budget moves by a uniform draw within
  ``C`` of its last, independent of everything (no optimiser moves like that: a stress case).
- ``unannounced``: the sandbox's own history, where managers reset budgets by -40%..+50%
  every 1-3 weeks on the platform without telling anyone (a stress case no forecast from the
  service's knowledge can foresee).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from connectors.sandbox import SandboxConnector
from connectors.sandbox_world import SimCampaign
from optimizer import EditPolicy, Limits, SpendLimit, fit_curves, optimize_budgets
from optimizer.pacing import plan_band

HELD_WEEKS_BEFORE = 4
AUTO_APPROVE = 0.1  # [service] auto_approve_max_change: share of the portfolio a run moves
MIN_CHANGE = 0.01  # [optimizer] min_change
FIT_DAYS = 90
LAG_DAYS = 7
UNLIMITED = 4.0  # a max change no run reaches: the run's targets
PLAN_BAND = 0.05  # [optimizer] plan_band
RATIO_DAYS = 14  # [pacing] ratio_days: the delivery ratio the plan's pace is divided by


@dataclass
class Moves:
    """What the service knows of the budgets' moves, by the day each takes effect."""

    # a move's effective day -> the day the service knows it (approved, or applied)
    approved: dict[dt.date, dt.date] = field(default_factory=dict)
    # A proposal waiting for a manager: the day it was proposed -> its budgets by budget key
    # (a ``proposed`` shift; a manager approves it that day, applied the next night).
    proposed: dict[dt.date, dict[str, float]] = field(default_factory=dict)
    # Each run's targets: the night it ran -> where it would put every budget without the
    # max-change limit (the service stores them with the run's shift).
    targets: dict[dt.date, dict[str, float]] = field(default_factory=dict)
    every: int = 0  # days between the optimiser's runs (0: it does not run)
    # ``planned`` worlds: each network's and account's plan for the month (EUR)
    plans: dict[tuple[str, str], float] = field(default_factory=dict)
    max_change: float = 0.0  # its limit per budget and run


def world_kind(world: str) -> tuple[str, float]:
    kind, _, change = world.partition(" ")
    return kind, float(change or 0)


def take_over(sb: SandboxConnector, month: dt.date) -> tuple[dt.date, dict[str, SimCampaign]]:
    """From four weeks before the month the budgets are budgetpilot's: held where they were."""
    start = month - dt.timedelta(weeks=HELD_WEEKS_BEFORE)
    keys = {c.budget_key: c for c in sb.campaigns if c.status == "ACTIVE"}
    for key, c in keys.items():
        sb.overrides[key] = [(start, sb.budget_on(c, start))]
    return start, keys


def move_budgets(sb: SandboxConnector, month: dt.date, month_end: dt.date, seed: int,
                 world: str, edits: EditPolicy | None = None) -> Moves:
    kind, change = world_kind(world)
    if kind == "unannounced":
        return Moves()
    if kind == "random":
        return _random_shifts(sb, month, month_end, seed, change)
    return _optimiser_runs(sb, month, month_end, change, every=7 if kind == "weekly" else 1,
                           edits=edits or EditPolicy(), plans=kind == "planned")


def _random_shifts(sb: SandboxConnector, month: dt.date, month_end: dt.date, seed: int,
                   change: float) -> Moves:
    start, keys = take_over(sb, month)
    rng = np.random.default_rng([seed, month.toordinal(), 99])  # the shifts' own stream
    moves = Moves()
    day = start + dt.timedelta(days=int(rng.integers(1, 8)))
    while day <= month_end:
        for key, c in sorted(keys.items()):
            factor = float(rng.uniform(1 - change, 1 + change))
            sb.overrides[key].append((day, round(sb.budget_on(c, day - dt.timedelta(days=1))
                                                 * factor, 2)))
        moves.approved[day] = day - dt.timedelta(days=1)
        day += dt.timedelta(days=7)
    return moves


def _scope_keys(frame: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Each unit's network and account scopes (the optimiser's keys)."""
    return [("network", n) for n in frame["network"]], [("account", a) for a in
                                                         frame["account_id"]]


def plan_limits(sb: SandboxConnector, members: dict[str, list[SimCampaign]],
                frame: pd.DataFrame, current: np.ndarray, night: dt.date, month: dt.date,
                month_end: dt.date, plans: dict[tuple[str, str], float],
                change: float) -> tuple[SpendLimit, ...]:
    """Each plan's range for its scope's budgets on ``night`` (as
    ``campaigns.optimization.plan_limits`` derives it): the plan less the month's spend so
    far, over the days left with today, at the scope's delivery ratio of the last two weeks
    (EUR)."""
    fx = frame["fx"].to_numpy()
    units = list(frame["unit_id"])
    spent: dict[tuple[str, str], float] = {}
    delivered: dict[tuple[str, str], float] = {}
    budgeted: dict[tuple[str, str], float] = {}
    now: dict[tuple[str, str], float] = {}
    by_network, by_account = _scope_keys(frame)
    for i, key in enumerate(units):
        scopes = (by_network[i], by_account[i])
        for scope in scopes:
            now[scope] = now.get(scope, 0.0) + current[i] * fx[i]
        for back in range(1, max(RATIO_DAYS, (night - month).days) + 1):
            day = night - dt.timedelta(days=back)
            spend = sum(sb.true_day(c, day)[0] for c in members[key]) * fx[i]
            for scope in scopes:
                if day >= month:
                    spent[scope] = spent.get(scope, 0.0) + spend
                if back <= RATIO_DAYS:
                    delivered[scope] = delivered.get(scope, 0.0) + spend
                    budgeted[scope] = budgeted.get(scope, 0.0) + \
                        sb.budget_on(members[key][0], day) * fx[i]
    bands = {}
    for scope, planned in plans.items():
        ratio = delivered.get(scope, 0.0) / budgeted[scope] if budgeted.get(scope) else None
        band = plan_band(planned, spent.get(scope, 0.0), (month_end - night).days + 1, ratio,
                         now[scope], band=PLAN_BAND, max_change=change)
        if band is not None:
            bands[scope] = band
    return tuple(SpendLimit(scope, key, low, high)  # type: ignore[arg-type]
                 for (scope, key), (low, high) in bands.items())


def month_plans(sb: SandboxConnector, members: dict[str, list[SimCampaign]],
                frame: pd.DataFrame, start: dt.date, month: dt.date,
                month_end: dt.date) -> dict[tuple[str, str], float]:
    """Finance's plan for each network and account: its spend over the four weeks before
    the month (EUR), scaled to the month's days."""
    fx = frame["fx"].to_numpy()
    by_network, by_account = _scope_keys(frame)
    days = [start + dt.timedelta(days=i) for i in range((month - start).days)]
    plans: dict[tuple[str, str], float] = {}
    for i, key in enumerate(frame["unit_id"]):
        spend = sum(sb.true_day(c, d)[0] for c in members[key] for d in days) * fx[i]
        for scope in (by_network[i], by_account[i]):
            plans[scope] = plans.get(scope, 0.0) + spend
    scale = ((month_end - month).days + 1) / len(days)
    return {scope: amount * scale for scope, amount in plans.items()}


def _optimiser_runs(sb: SandboxConnector, month: dt.date, month_end: dt.date,
                    change: float, every: int, edits: EditPolicy,
                    plans: bool = False) -> Moves:
    """The nightly job's path: propose at night from what the platform reports, auto-approve
    within the limit, else a manager approves the next day."""
    start, keys = take_over(sb, month)
    units = sorted(keys)
    members = {k: [c for c in sb.campaigns if c.budget_key == k] for k in units}
    frame = pd.DataFrame({
        "unit_id": units,
        "network": [keys[k].account.network for k in units],
        "account_id": [keys[k].account.external_id for k in units],
        "fx": [1.0 / keys[k].account.fx_to_eur for k in units],
    })
    fx = frame["fx"].to_numpy()
    total = float(sum(sb.budget_on(keys[k], start) * f for k, f in zip(units, fx, strict=True)))
    moves = Moves(every=every, max_change=change)
    planned = month_plans(sb, members, frame, start, month, month_end) if plans else {}
    moves.plans = planned
    cache: dict[tuple[int, dt.date], tuple[float, float, float]] = {}
    waiting: dict[str, float] = {}  # proposed last night, approved by a manager today
    night = start + dt.timedelta(days=every)  # the run at 02:00 of ``night``
    while night <= month_end:
        if waiting:  # applied tonight; the service sees it once applied
            _set(sb, waiting, night)
            moves.approved[night] = night
            waiting = {}
        elif (night - start).days % every == 0:
            current = np.array([sb.budget_on(keys[k], night) for k in units])
            bounds = plan_limits(sb, members, frame, current, night, month, month_end,
                                 planned, change) if planned and night >= month else ()
            proposed, target = _propose(sb, frame.assign(current_budget=current), members,
                                        night, total, change, cache, edits, bounds)
            moves.targets[night] = dict(zip(units, target.tolist(), strict=True))
            moved = float(np.abs(proposed - current) @ fx / (current @ fx))
            new = {k: float(p) for k, p, c in zip(units, proposed, current, strict=True)
                   if abs(p - c) > 1e-9}
            if new and moved <= AUTO_APPROVE:
                _set(sb, new, night)
                moves.approved[night] = night
            elif new:
                waiting = new
                moves.proposed[night] = new
        night += dt.timedelta(days=1)
    return moves


def _set(sb: SandboxConnector, budgets: dict[str, float], day: dt.date) -> None:
    for key, amount in budgets.items():
        sb.overrides[key].append((day, amount))


def _propose(sb: SandboxConnector, frame: pd.DataFrame, members: dict[str, list[SimCampaign]],
             today: dt.date, total: float, change: float,
             cache: dict[tuple[int, dt.date], tuple[float, float, float]],
             edits: EditPolicy, bounds: tuple[SpendLimit, ...] = ()
             ) -> tuple[np.ndarray, np.ndarray]:
    """The run's budgets under the max-change limit, and its targets without it."""
    records = []
    for offset in range(1, FIT_DAYS + 1):
        day = today - dt.timedelta(days=offset)
        for key, cs in members.items():
            for c in cs:
                values = cache.get((c.index, day))
                if values is None:
                    m = sb.day_metrics(c, day, today)
                    values = (float(m.spend), float(m.conversions), float(m.revenue))
                    if offset > 40:  # settled: no later report restates it
                        cache[(c.index, day)] = values
                records.append((key, c.account.network, day, *values))
    history = pd.DataFrame.from_records(
        records, columns=["unit_id", "network", "date", "spend", "conversions", "revenue"])
    curves = {metric: fit_curves(history, today=today, metric=metric, lag_days=LAG_DAYS,
                                 units=frame) for metric in ("conversions", "revenue")}
    # The targets, as production's (campaigns.optimization.targets), under no edit policy.

    def plan(limit: float, policy: EditPolicy) -> np.ndarray:
        # the plans as targets, kept as far as the other limits allow, as the service does
        return optimize_budgets(
            frame, curves["conversions"], curves["revenue"],
            Limits(total_budget=total, max_change=limit, targets=bounds),
            weekday=today.weekday(), currency="EUR", min_change=MIN_CHANGE,
            edits=policy).allocations["proposed_budget"].to_numpy(dtype=float)

    plans = [plan(change, edits), plan(UNLIMITED, EditPolicy())]
    currencies = [members[k][0].account.currency for k in frame["unit_id"]]
    out = np.array([round(v, 0 if cur == "JPY" else 2) for v, cur in
                    zip(plans[0], currencies, strict=True)])
    return out, plans[1]
