"""Pacing of a portfolio's month: loads spend and plans, calls the pure math
(:mod:`optimizer.pacing`) for the total, each network, each account and each planned campaign,
beside each scope's month-to-date KPIs (:mod:`campaigns.reports.kpi_units`).

Amounts come out as ``Decimal`` in the reporting currency's own minor unit. Spend to date is
summed exactly (each day converted with its rate), rounded once per account (half-even), and a
network's or the total's is the sum of its accounts' rounded figures: the way the finance
report adds up, so the two agree to the cent for the same month and day.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.errors import ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetPlan, Portfolio
from campaigns.policy import PacingSettings
from campaigns.reports.budgets import budget_lines, optimiser_heading, scope_budgets
from campaigns.reports.cache import Cache, data_stamp
from campaigns.reports.kpi_units import (
    NO_KPIS,
    KpiFields,
    UnitKpis,
    Units,
    account_units,
    campaign_days,
    combine,
    day_totals,
    kpi_fields,
)
from campaigns.reports.spend import (
    AccountInfo,
    account_daily_local,
    campaign_daily_reporting,
    portfolio_accounts,
    to_reporting,
)
from connectors.currencies import ISO_4217
from optimizer.pacing import (
    BudgetOutlook,
    PacingResult,
    PacingThresholds,
    PlanFollow,
    history_start,
    month_bounds,
    pace,
)


@dataclass(frozen=True)
class Amounts:
    """A scope's money in the reporting currency's minor unit."""

    planned: Decimal
    spend_to_date: Decimal
    expected_to_date: Decimal
    forecast: Decimal
    forecast_low: Decimal
    forecast_high: Decimal
    run_rate: Decimal


@dataclass(frozen=True)
class ScopePacing:
    scope: str
    scope_key: str
    result: PacingResult
    amounts: Amounts
    kpis: KpiFields | None = None  # month to date: reach, engagement and cost rates


@dataclass(frozen=True)
class PacingReport:
    portfolio: str
    currency: str
    month: dt.date
    as_of: dt.date
    days_elapsed: int
    days_in_month: int
    scopes: list[ScopePacing]


def thresholds(s: PacingSettings) -> PacingThresholds:
    return PacingThresholds(over=s.over_threshold, under=s.under_threshold,
                            run_rate_days=s.run_rate_days, weekday_weeks=s.weekday_weeks,
                            spike_cap=s.spike_cap, ratio_days=s.ratio_days,
                            ratio_cap=s.ratio_cap, prior_days=s.prior_days,
                            trend_days=s.trend_days, trend_half_life=s.trend_half_life,
                            revert_half_life=s.revert_half_life, stray_days=s.stray_days,
                            heading_weight=s.heading_weight)


def default_as_of(today: dt.date | None = None) -> dt.date:
    """Yesterday: the last day every account's platform has finished reporting."""
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)


def pacing_report(
    session: Session, *, portfolio: str, settings: PacingSettings, month: dt.date | None = None,
    as_of: dt.date | None = None, cache: Cache[Any] | None = None,
    skip_accounts: frozenset[int] = frozenset(),
) -> PacingReport:
    """``month`` defaults to the month of ``as_of`` (yesterday); a past month is reported as
    of its last day (its forecast is what it spent), a month not begun by ``as_of`` is a 422.
    ``skip_accounts`` (ids) leaves accounts out of every scope (finance does, for accounts it
    has no FX rate for)."""
    as_of = as_of or default_as_of()
    month = (month or as_of).replace(day=1)
    if month > as_of:
        raise ValidationError(f"month {month:%Y-%m} has not begun by {as_of.isoformat()}: "
                              "pacing covers the months up to as_of")
    as_of = min(as_of, month_bounds(month)[1])
    p = get_portfolio(session, portfolio)

    def compute() -> PacingReport:
        return _compute(session, p, month, as_of, thresholds(settings), skip_accounts,
                        settings.target_days)

    if cache is None:
        return compute()
    key = ("pacing", p.id, month, as_of, settings, skip_accounts, data_stamp(session))
    return cache.get_or_compute(key, compute)


def _compute(session: Session, p: Portfolio, month: dt.date, as_of: dt.date,
             t: PacingThresholds, skip_accounts: frozenset[int] = frozenset(),
             target_days: int = 8) -> PacingReport:
    m_start, m_end = month_bounds(month)
    start = history_start(month, as_of, t)
    end = max(min(as_of, m_end), start)
    last = min(as_of, m_end)
    unit = Decimal(1).scaleb(-ISO_4217.get(p.reporting_currency, 2))
    accounts = [a for a in portfolio_accounts(session, p) if a.id not in skip_accounts]
    fx = FxTable.load(session, p.reporting_currency, {a.currency for a in accounts}, start, end)
    by_account = to_reporting(account_daily_local(session, accounts, start, end), accounts, fx)
    plans = {(pl.scope, pl.scope_key): pl.planned_spend for pl in session.scalars(
        select(BudgetPlan).where(col(BudgetPlan.portfolio_id) == p.id,
                                 col(BudgetPlan.month) == m_start)
    )}

    series: dict[tuple[str, str], dict[dt.date, Decimal]] = defaultdict(dict)
    series[("total", "")] = {}
    to_date: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # rounded per account
    for a in accounts:
        days = by_account.get(a.id, {})
        mine = sum((v for d, v in days.items() if m_start <= d <= last), Decimal(0))
        for scope_key in (("total", ""), ("network", a.network), ("account", a.key)):
            target = series[scope_key]
            for day, amount in days.items():
                target[day] = target.get(day, Decimal(0)) + amount
            to_date[scope_key] += mine.quantize(unit, ROUND_HALF_EVEN)
    campaign_keys = {k for s, k in plans if s == "campaign"}
    for key, daily in campaign_daily_reporting(session, p, campaign_keys, fx, start,
                                               end, {a.id for a in accounts}).items():
        series[("campaign", key)] = daily
        to_date[("campaign", key)] = sum(
            (v for d, v in daily.items() if m_start <= d <= last), Decimal(0),
        ).quantize(unit, ROUND_HALF_EVEN)
    for scope_key in plans:
        series.setdefault(scope_key, {})

    kpis = _scope_kpis(session, accounts, fx, m_start, min(as_of, m_end), campaign_keys)

    # From the history's start: how budgets moved over those weeks widens the range.
    kept = {a.id for a in accounts}
    lines = [b for b in budget_lines(session, p, start) if b.account.id in kept]
    heading = optimiser_heading(session, p, as_of + dt.timedelta(days=1), target_days) \
        if t.heading_weight > 0 and as_of < m_end else None
    budgets = scope_budgets(lines, fx, start=start, as_of=as_of, month_end=m_end,
                            campaign_keys=campaign_keys, heading=heading)
    order = {"total": 0, "network": 1, "account": 2, "campaign": 3}
    money = _in(unit)
    scopes = []
    priors: dict[str, float | None] = {}  # network -> its delivery ratio
    for (scope, key), daily in sorted(series.items(), key=lambda kv: (order[kv[0][0]], kv[0])):
        planned = plans.get((scope, key))
        b = budgets.get((scope, key))
        network = key.split(":")[0] if scope in ("account", "campaign") else None
        follow = None
        if heading is not None and heading.plan_band is not None and planned is not None \
                and scope in ("network", "account"):
            follow = PlanFollow(float(planned), heading.plan_band, heading.max_change,
                                heading.every)
        outlook = None if b is None else BudgetOutlook(
            past=b.past, future=b.future, proposed=b.proposed, heading=b.heading,
            prior_ratio=None if network is None or b.shared else priors.get(network),
            follow=follow)
        result = pace({d: float(v) for d, v in daily.items()},
                      planned=float(planned) if planned is not None else None,
                      month=month, as_of=as_of, thresholds=t, budgets=outlook)
        if scope == "network":
            priors[key] = result.delivery_ratio
        spent = to_date.get((scope, key), Decimal(0).quantize(unit))
        # the exact spend so far plus the forecast's rest: a month that has ended forecasts
        # exactly what it spent
        rest = [money(v - result.spend_to_date)
                for v in (result.forecast, result.forecast_low, result.forecast_high)]
        scopes.append(ScopePacing(scope, key, result, Amounts(
            planned=Decimal(planned or 0).quantize(unit),
            spend_to_date=spent, expected_to_date=money(result.expected_to_date),
            forecast=spent + rest[0], forecast_low=spent + rest[1],
            forecast_high=spent + rest[2], run_rate=money(result.run_rate)),
            kpis.get((scope, key), NO_KPIS)))
    total = scopes[0].result
    return PacingReport(p.name, p.reporting_currency, month, as_of, total.days_elapsed,
                        total.days_in_month, scopes)


def _scope_kpis(
    session: Session, accounts: list[AccountInfo], fx: FxTable, start: dt.date, end: dt.date,
    campaign_keys: set[str],
) -> dict[tuple[str, str], KpiFields]:
    """Month-to-date KPIs of the total, each network, account and planned campaign."""
    by_id = {a.id: a for a in accounts}
    units = account_units(session, by_id, fx, [(start, end)] if start <= end else [])
    parts: dict[tuple[str, str], list[UnitKpis]] = defaultdict(list)
    parts[("total", "")] = []
    for (acc_id, _), unit in units.items():
        a = by_id[acc_id]
        for scope in (("total", ""), ("network", a.network), ("account", a.key)):
            parts[scope].append(unit)
    campaigns = Units()
    wanted = {k.split(":")[2] for k in campaign_keys}
    for acc, campaign, day, values in campaign_days(session, list(by_id), start, end, wanted):
        a = by_id[acc]
        ckey = f"{a.key}:{campaign.external_id}"
        if ckey in campaign_keys:
            campaigns.add(ckey, account_id=acc, campaign_id=campaign.id, period=(start, end),
                          day=day, totals=day_totals(values, fx.rate(a.currency, day)))
    for done, cunit in campaigns.resolve(session).items():
        parts[("campaign", str(done))].append(cunit)
    return {scope: kpi_fields(combine(p)) for scope, p in parts.items()}


def _in(unit: Decimal) -> Callable[[float], Decimal]:
    """A float from the pacing maths as an amount in ``unit`` (NaN as 0)."""
    return lambda value: (Decimal(repr(value)).quantize(unit, ROUND_HALF_EVEN)
                          if value == value else Decimal(0))
