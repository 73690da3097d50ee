"""Finance: spend against plan by month x network x account, in the reporting currency, with
each month's end-of-month forecast and each row's KPIs (reach, engagement and cost rates;
:mod:`campaigns.reports.kpi_units`).

Each account-day's spend is converted with that day's FX rate (days are the account's local
days, so month boundaries follow each account's time zone). A row's amount is the exact sum of
its converted days, rounded once to the reporting currency's minor unit (half-even); every total
is the sum of the rounded rows below it, so the figures add up exactly on paper.

Spend counts through ``as_of`` (yesterday by default, as pacing: today's spend is still
arriving). The forecast of a month that has ended is what it spent; of the month holding
``as_of`` it is pacing's forecast for that scope (the network's and the total's own forecasts,
not sums of the accounts'), and pacing's spend to date is this report's spend to the cent; a
month not begun has none. An account-month with a day no FX rate converts is kept, marked with
the rate to add, and left out of the totals (which say they are incomplete).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import MAX_CARRY_DAYS, FxTable
from campaigns.errors import FxRateMissingError, ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetPlan
from campaigns.policy import PacingSettings
from campaigns.reports.cache import Cache, data_stamp
from campaigns.reports.csv_export import Cell, Money, render
from campaigns.reports.kpi_units import (
    KPI_COLUMNS,
    NO_KPIS,
    KpiFields,
    UnitKpis,
    account_units,
    combine,
    kpi_cells,
    kpi_fields,
)
from campaigns.reports.pacing import PacingReport, default_as_of, pacing_report
from campaigns.reports.spend import AccountInfo, account_daily_local, portfolio_accounts
from connectors.currencies import ISO_4217
from optimizer.pacing import month_bounds

MAX_MONTHS = 36
# (month, scope, scope key, its spend) → its end-of-month forecast
Forecaster = Callable[[dt.date, str, str, Decimal | None], Decimal | None]


@dataclass(frozen=True)
class FinanceRow:
    month: dt.date
    network: str
    account: str
    account_name: str
    account_currency: str
    spend_local: Decimal
    spend: Decimal | None  # None: a day of it has no FX rate (``missing_rate`` names it)
    plan: Decimal | None
    variance: Decimal | None
    forecast: Decimal | None = None
    forecast_variance: Decimal | None = None
    missing_rate: str | None = None
    # the account-month's reach, engagement and cost rates (none without an FX rate)
    kpis: KpiFields = NO_KPIS


@dataclass(frozen=True)
class FinanceTotal:
    month: dt.date | None
    network: str | None
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None
    forecast: Decimal | None = None
    forecast_variance: Decimal | None = None
    complete: bool = True  # False: rows below it lack an FX rate and are not in it
    # over the rows below it: rates from summed counts, reach estimated
    kpis: KpiFields = NO_KPIS


@dataclass(frozen=True)
class MissingRate:
    """An FX rate the report needs and does not have: ``currency``→``quote`` for the days from
    ``first_day`` to ``last_day`` (a rate carries over up to MAX_CARRY_DAYS days)."""

    currency: str
    quote: str
    first_day: dt.date
    last_day: dt.date
    accounts: list[str]
    message: str


@dataclass(frozen=True)
class FinanceReport:
    portfolio: str
    currency: str
    start: dt.date
    end: dt.date
    rows: list[FinanceRow]
    network_totals: list[FinanceTotal]
    month_totals: list[FinanceTotal]
    total: FinanceTotal
    as_of: dt.date | None = None
    missing_rates: tuple[MissingRate, ...] = ()
    forecast_note: str | None = None  # why the current month has no forecast, if it has none


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _variance(spend: Decimal | None, plan: Decimal | None) -> Decimal | None:
    return None if plan is None or spend is None else spend - plan


def finance_report(
    session: Session, *, portfolio: str, start_month: dt.date, end_month: dt.date,
    cache: Cache[Any] | None = None, as_of: dt.date | None = None,
    pacing: PacingSettings | None = None,
) -> FinanceReport:
    """``pacing`` (the pacing settings) gives the current month its forecast; without it that
    month's forecasts are empty."""
    start, end = start_month.replace(day=1), month_bounds(end_month)[1]
    if end < start:
        raise ValidationError("end_month is before start_month")
    if len(_months(start, end)) > MAX_MONTHS:
        raise ValidationError(f"a report covers at most {MAX_MONTHS} months")
    as_of = as_of or default_as_of()
    p = get_portfolio(session, portfolio)

    def compute() -> FinanceReport:
        return _compute(session, p.name, p.reporting_currency, start, end, as_of, pacing,
                        cache)

    if cache is None:
        return compute()
    return cache.get_or_compute(("finance", p.id, start, end, as_of, pacing,
                                 data_stamp(session)), compute)


def _rate_message(currency: str, quote: str, first: dt.date, last: dt.date) -> str:
    days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    return (f"no FX rate {currency}→{quote} for {days}: add the {currency}→{quote} rate of "
            f"{first.isoformat()} (each rate also covers the {MAX_CARRY_DAYS} days after it) "
            "with POST /api/v1/fx-rates")


def _compute(session: Session, name: str, currency: str, start: dt.date, end: dt.date,
             as_of: dt.date, pacing: PacingSettings | None,
             cache: Cache[Any] | None) -> FinanceReport:
    p = get_portfolio(session, name)
    accounts = portfolio_accounts(session, p)
    local = account_daily_local(session, accounts, start, min(end, as_of))
    fx = FxTable.load(session, currency, {a.currency for a in accounts}, start, end)
    unit = Decimal(1).scaleb(-ISO_4217.get(currency, 2))
    by_id = {a.id: a for a in accounts}

    local_sum: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    exact_sum: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    unconverted: dict[tuple[dt.date, int], list[dt.date]] = defaultdict(list)
    for (acc, day), amount in local.items():
        key = (day.replace(day=1), acc)
        local_sum[key] += amount
        try:
            exact_sum[key] += amount * fx.rate(by_id[acc].currency, day)
        except FxRateMissingError:
            unconverted[key].append(day)
    plans = {(pl.month, pl.scope, pl.scope_key): Decimal(pl.planned_spend).quantize(unit)
             for pl in session.scalars(
        select(BudgetPlan).where(col(BudgetPlan.portfolio_id) == p.id,
                                 col(BudgetPlan.month) >= start, col(BudgetPlan.month) <= end)
    )}
    current = as_of.replace(day=1)
    outlook, note = _outlook(session, name, current, as_of, pacing, cache, start, end,
                             frozenset(acc for (m, acc) in unconverted if m == current))

    def forecast(month: dt.date, scope: str, key: str, spend: Decimal | None) -> Decimal | None:
        if spend is None or month > current:
            return None
        if month < current:
            return spend
        return outlook.get((scope, key))

    # KPIs per account-month through as_of: rates from summed counts, reach the platform's
    # month figure where the sync stored one (kpi_units), spend converted as the KPI report
    # does. An account-month without an FX rate has none (it is left out of the totals).
    months = _months(start, end)
    units = account_units(session, by_id, fx,
                          [(m, min(month_bounds(m)[1], as_of)) for m in months if m <= as_of],
                          skip=frozenset(unconverted))
    per_network: dict[tuple[dt.date, str], list[UnitKpis]] = defaultdict(list)
    per_month: dict[dt.date, list[UnitKpis]] = defaultdict(list)
    for (acc, m), part in units.items():
        per_network[(m, by_id[acc].network)].append(part)
        per_month[m].append(part)

    def kpis(parts: Iterable[UnitKpis]) -> KpiFields:
        return kpi_fields(combine(parts))

    rows: list[FinanceRow] = []
    for month in _months(start, end):
        for a in sorted(accounts, key=lambda a: (a.network, a.key)):
            plan = plans.get((month, "account", a.key))
            if (month, a.id) not in local_sum and plan is None:
                continue
            row = _row(month, a, plan, local_sum, exact_sum, unconverted, currency, unit,
                       forecast)
            got = units.get((a.id, month))
            rows.append(replace(row, kpis=kpis([got] if got else [])))

    by_network: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    by_month: dict[dt.date, Decimal] = defaultdict(Decimal)
    partial: set[tuple[dt.date, str | None]] = set()
    for r in rows:
        if r.spend is None:
            partial |= {(r.month, r.network), (r.month, None)}
            continue
        by_network[(r.month, r.network)] += r.spend
        by_month[r.month] += r.spend
    for r in rows:
        by_network.setdefault((r.month, r.network), Decimal(0).quantize(unit))

    def total(month: dt.date, network: str | None, spend: Decimal) -> FinanceTotal:
        scope, key = ("network", network) if network else ("total", "")
        plan = plans.get((month, scope, key))
        f = forecast(month, scope, key, spend)
        parts = per_network[(month, network)] if network else per_month[month]
        return FinanceTotal(month, network, spend, plan, _variance(spend, plan), f,
                            _variance(f, plan), (month, network) not in partial, kpis(parts))

    network_totals = [total(m, n, s) for (m, n), s in sorted(by_network.items())]
    zero = Decimal(0).quantize(unit)
    month_totals = [total(m, None, by_month.get(m, zero)) for m in _months(start, end)]
    grand = sum((t.spend for t in month_totals), zero)
    month_plans = [t.plan for t in month_totals]
    grand_plan = (sum((x for x in month_plans if x is not None), Decimal(0))
                  if all(x is not None for x in month_plans) else None)
    forecasts = [t.forecast for t in month_totals]
    grand_forecast = (sum((x for x in forecasts if x is not None), Decimal(0))
                      if all(x is not None for x in forecasts) else None)
    return FinanceReport(
        name, currency, start, end, rows, network_totals, month_totals,
        FinanceTotal(None, None, grand, grand_plan, _variance(grand, grand_plan),
                     grand_forecast, _variance(grand_forecast, grand_plan),
                     all(t.complete for t in month_totals), kpis(units.values())),
        as_of, _missing(unconverted, by_id, currency), note)


def _row(month: dt.date, a: AccountInfo, plan: Decimal | None,
         local_sum: dict[tuple[dt.date, int], Decimal],
         exact_sum: dict[tuple[dt.date, int], Decimal],
         unconverted: dict[tuple[dt.date, int], list[dt.date]], currency: str, unit: Decimal,
         forecast: Forecaster) -> FinanceRow:
    key = (month, a.id)
    local_unit = Decimal(1).scaleb(-ISO_4217.get(a.currency, 2))
    spend_local = local_sum.get(key, Decimal(0))
    if spend_local == spend_local.quantize(local_unit):  # in its currency's decimals
        spend_local = spend_local.quantize(local_unit)
    if key in unconverted:
        days = unconverted[key]
        return FinanceRow(month, a.network, a.key, a.name, a.currency, spend_local, None,
                          plan, None, None, None,
                          f"{a.currency}→{currency} for {min(days).isoformat()}"
                          + ("" if len(days) == 1 else f" to {max(days).isoformat()}"))
    spend = exact_sum.get(key, Decimal(0)).quantize(unit, ROUND_HALF_EVEN)
    f = forecast(month, "account", a.key, spend)
    return FinanceRow(month, a.network, a.key, a.name, a.currency, spend_local, spend, plan,
                      _variance(spend, plan), f, _variance(f, plan))


def _missing(unconverted: dict[tuple[dt.date, int], list[dt.date]],
             by_id: dict[int, AccountInfo], currency: str) -> tuple[MissingRate, ...]:
    days: dict[str, list[dt.date]] = defaultdict(list)
    who: dict[str, set[str]] = defaultdict(set)
    for (_, acc), missing in unconverted.items():
        cur = by_id[acc].currency
        days[cur] += missing
        who[cur].add(by_id[acc].key)
    return tuple(MissingRate(cur, currency, min(d), max(d), sorted(who[cur]),
                             _rate_message(cur, currency, min(d), max(d)))
                 for cur, d in sorted(days.items()))


def _outlook(session: Session, name: str, month: dt.date, as_of: dt.date,
             pacing: PacingSettings | None, cache: Cache[Any] | None, start: dt.date,
             end: dt.date, skip: frozenset[int]) -> tuple[dict[tuple[str, str], Decimal],
                                                         str | None]:
    """Pacing's forecast per scope for the month holding ``as_of`` (when the report covers
    it), without the accounts finance cannot convert; and why there is none, if so."""
    if pacing is None or not start <= month <= end:
        return {}, None
    try:
        report: PacingReport = pacing_report(session, portfolio=name, settings=pacing,
                                             month=month, as_of=as_of, cache=cache,
                                             skip_accounts=skip)
    except FxRateMissingError as e:  # a rate missing in the weeks pacing looks back on
        return {}, f"no forecast for {month:%Y-%m}: {e}"
    return {(x.scope, x.scope_key): x.amounts.forecast for x in report.scopes}, None


def _money(value: Decimal | None) -> Money | None:
    return None if value is None else Money(value)


def to_csv(report: FinanceReport) -> str:
    """Rows, then the network and month totals and the grand total, marked in ``level``;
    amounts in the reporting currency's own decimals. A row without an FX rate has no spend
    and names the rate in ``note``; a total leaving such rows out says so there.
    Text cells are escaped against formula injection; amounts stay numbers."""
    header = ["level", "month", "network", "account", "account_name", "account_currency",
              "spend_local", f"spend_{report.currency.lower()}", "plan", "variance",
              "forecast", "forecast_variance", "note",
              *KPI_COLUMNS]  # the KPI columns come last: the columns before them are a contract
    rows: list[list[Cell]] = []
    for r in report.rows:
        rows.append(["account", f"{r.month:%Y-%m}", r.network, r.account, r.account_name,
                     r.account_currency, _money(r.spend_local), _money(r.spend),
                     _money(r.plan), _money(r.variance), _money(r.forecast),
                     _money(r.forecast_variance),
                     f"missing FX rate {r.missing_rate}" if r.missing_rate else None,
                     *kpi_cells(r.kpis)])
    totals = ([("network", t) for t in report.network_totals]
              + [("month", t) for t in report.month_totals] + [("total", report.total)])
    for level, t in totals:
        rows.append([level, "" if t.month is None else f"{t.month:%Y-%m}", t.network or "",
                     "", "", "", None, _money(t.spend), _money(t.plan), _money(t.variance),
                     _money(t.forecast), _money(t.forecast_variance),
                     None if t.complete else "incomplete: rows without an FX rate left out",
                     *kpi_cells(t.kpis)])
    return render(header, rows)


def csv_filename(report: FinanceReport) -> str:
    return f"finance-{report.portfolio}-{report.start:%Y-%m}-{report.end:%Y-%m}"
