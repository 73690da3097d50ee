"""Pacing of a portfolio's month: loads spend and plans, calls the pure math
(:mod:`optimizer.pacing`) for the total, each network, each account and each planned campaign,
beside each scope's month-to-date KPIs (:mod:`campaigns.reports.kpi_units`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetPlan, Portfolio
from campaigns.policy import PacingSettings
from campaigns.reports.budgets import budget_lines, scope_budgets
from campaigns.reports.cache import Cache, data_stamp
from campaigns.reports.kpi_units import (
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
from optimizer.pacing import (
    BudgetOutlook,
    PacingResult,
    PacingThresholds,
    history_start,
    month_bounds,
    pace,
)

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ScopePacing:
    scope: str
    scope_key: str
    result: PacingResult
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
                            ratio_cap=s.ratio_cap, prior_days=s.prior_days)


def default_as_of(today: dt.date | None = None) -> dt.date:
    """Yesterday: the last day every account's platform has finished reporting."""
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)


def pacing_report(
    session: Session, *, portfolio: str, settings: PacingSettings, month: dt.date | None = None,
    as_of: dt.date | None = None, cache: Cache[Any] | None = None,
) -> PacingReport:
    as_of = as_of or default_as_of()
    month = (month or as_of).replace(day=1)
    p = get_portfolio(session, portfolio)

    def compute() -> PacingReport:
        return _compute(session, p, month, as_of, thresholds(settings))

    if cache is None:
        return compute()
    key = ("pacing", p.id, month, as_of, settings, data_stamp(session))
    return cache.get_or_compute(key, compute)


def _compute(session: Session, p: Portfolio, month: dt.date, as_of: dt.date,
             t: PacingThresholds) -> PacingReport:
    m_start, m_end = month_bounds(month)
    start = history_start(month, as_of, t)
    end = max(min(as_of, m_end), start)
    accounts = portfolio_accounts(session, p)
    fx = FxTable.load(session, p.reporting_currency, {a.currency for a in accounts}, start, end)
    by_account = to_reporting(account_daily_local(session, accounts, start, end), accounts, fx)
    plans = {(pl.scope, pl.scope_key): pl.planned_spend for pl in session.scalars(
        select(BudgetPlan).where(col(BudgetPlan.portfolio_id) == p.id,
                                 col(BudgetPlan.month) == m_start)
    )}

    series: dict[tuple[str, str], dict[dt.date, Decimal]] = defaultdict(dict)
    series[("total", "")] = {}
    for a in accounts:
        for scope_key in (("total", ""), ("network", a.network), ("account", a.key)):
            target = series[scope_key]
            for day, amount in by_account.get(a.id, {}).items():
                target[day] = target.get(day, Decimal(0)) + amount
    campaign_keys = {k for s, k in plans if s == "campaign"}
    for key, daily in campaign_daily_reporting(session, p, campaign_keys, fx, start,
                                               end).items():
        series[("campaign", key)] = daily
    for scope_key in plans:
        series.setdefault(scope_key, {})

    kpis = _scope_kpis(session, accounts, fx, m_start, min(as_of, m_end), campaign_keys)
    no_kpis = kpi_fields(combine([]))

    # From the history's start: how budgets moved over those weeks widens the range.
    budgets = scope_budgets(budget_lines(session, p, start), fx, start=start, as_of=as_of,
                            month_end=m_end, campaign_keys=campaign_keys)
    order = {"total": 0, "network": 1, "account": 2, "campaign": 3}
    scopes = []
    priors: dict[str, float | None] = {}  # network -> its delivery ratio
    for (scope, key), daily in sorted(series.items(), key=lambda kv: (order[kv[0][0]], kv[0])):
        planned = plans.get((scope, key))
        b = budgets.get((scope, key))
        network = key.split(":")[0] if scope in ("account", "campaign") else None
        outlook = None if b is None else BudgetOutlook(
            past=b.past, future=b.future,
            prior_ratio=None if network is None or b.shared else priors.get(network))
        result = pace({d: float(v) for d, v in daily.items()},
                      planned=float(planned) if planned is not None else None,
                      month=month, as_of=as_of, thresholds=t, budgets=outlook)
        if scope == "network":
            priors[key] = result.delivery_ratio
        scopes.append(ScopePacing(scope, key, result, kpis.get((scope, key), no_kpis)))
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


def to_cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT) if value == value else Decimal(0)
