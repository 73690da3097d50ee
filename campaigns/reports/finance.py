"""Finance: spend against plan by month x network x account, in the reporting currency, with
each row's KPIs (reach, engagement and cost rates; :mod:`campaigns.reports.kpi_units`).

Each account-day's spend is converted with that day's FX rate (days are the account's local
days, so month boundaries follow each account's time zone). A row's amount is the exact sum of
its converted days, rounded once to the reporting currency's minor unit (half-even); every total
is the sum of the rounded rows below it, so the figures add up exactly on paper.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.errors import ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetPlan
from campaigns.reports.cache import Cache, data_stamp
from campaigns.reports.csv_export import Cell, Money, render
from campaigns.reports.kpi_units import (
    KPI_COLUMNS,
    KpiFields,
    UnitKpis,
    account_units,
    combine,
    kpi_cells,
    kpi_fields,
)
from campaigns.reports.spend import account_daily_local, portfolio_accounts, to_reporting
from connectors.currencies import ISO_4217
from optimizer.pacing import month_bounds

MAX_MONTHS = 36


@dataclass(frozen=True)
class FinanceRow:
    month: dt.date
    network: str
    account: str
    account_name: str
    account_currency: str
    spend_local: Decimal
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None
    kpis: KpiFields  # the account-month's reach, engagement and cost rates


@dataclass(frozen=True)
class FinanceTotal:
    month: dt.date | None
    network: str | None
    spend: Decimal
    plan: Decimal | None
    variance: Decimal | None
    kpis: KpiFields  # over the rows below it: rates from summed counts, reach estimated


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


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _variance(spend: Decimal, plan: Decimal | None) -> Decimal | None:
    return None if plan is None else spend - plan


def finance_report(
    session: Session, *, portfolio: str, start_month: dt.date, end_month: dt.date,
    cache: Cache[Any] | None = None,
) -> FinanceReport:
    start, end = start_month.replace(day=1), month_bounds(end_month)[1]
    if end < start:
        raise ValidationError("end_month is before start_month")
    if len(_months(start, end)) > MAX_MONTHS:
        raise ValidationError(f"a report covers at most {MAX_MONTHS} months")
    p = get_portfolio(session, portfolio)
    assert p.id is not None  # read from the table
    portfolio_id = p.id

    def compute() -> FinanceReport:
        return _compute(session, portfolio_id, p.name, p.reporting_currency, start, end)

    if cache is None:
        return compute()
    return cache.get_or_compute(("finance", p.id, start, end, data_stamp(session)), compute)


def _compute(session: Session, portfolio_id: int, name: str, currency: str, start: dt.date,
             end: dt.date) -> FinanceReport:
    p = get_portfolio(session, name)
    accounts = portfolio_accounts(session, p)
    local = account_daily_local(session, accounts, start, end)
    fx = FxTable.load(session, currency, {a.currency for a in accounts}, start, end)
    reporting = to_reporting(local, accounts, fx)
    unit = Decimal(1).scaleb(-ISO_4217.get(currency, 2))

    local_sum: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    exact_sum: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    for (acc, day), amount in local.items():
        local_sum[(day.replace(day=1), acc)] += amount
        exact_sum[(day.replace(day=1), acc)] += reporting[acc][day]
    plans = {(pl.month, pl.scope, pl.scope_key): Decimal(pl.planned_spend).quantize(unit)
             for pl in session.scalars(
        select(BudgetPlan).where(col(BudgetPlan.portfolio_id) == portfolio_id,
                                 col(BudgetPlan.month) >= start, col(BudgetPlan.month) <= end)
    )}

    # KPIs per account-month: rates from summed counts, reach the platform's month figure
    # where the sync stored one (kpi_units), and spend converted exactly as the KPI report.
    months = _months(start, end)
    units = account_units(session, {a.id: a for a in accounts}, fx,
                          [(m, month_bounds(m)[1]) for m in months])
    network_of = {a.id: a.network for a in accounts}
    unit_of: dict[tuple[int, dt.date], UnitKpis] = {}
    per_network: dict[tuple[dt.date, str], list[UnitKpis]] = defaultdict(list)
    per_month: dict[dt.date, list[UnitKpis]] = defaultdict(list)
    for (acc, m), part in units.items():
        unit_of[(acc, m)] = part
        per_network[(m, network_of[acc])].append(part)
        per_month[m].append(part)

    def kpis(parts: Iterable[UnitKpis]) -> KpiFields:
        return kpi_fields(combine(parts))

    rows: list[FinanceRow] = []
    for month in _months(start, end):
        for a in sorted(accounts, key=lambda a: (a.network, a.key)):
            plan = plans.get((month, "account", a.key))
            if (month, a.id) not in local_sum and plan is None:
                continue
            spend = exact_sum.get((month, a.id), Decimal(0)).quantize(unit, ROUND_HALF_EVEN)
            rows.append(FinanceRow(
                month, a.network, a.key, a.name, a.currency,
                local_sum.get((month, a.id), Decimal(0)), spend, plan, _variance(spend, plan),
                kpis([unit_of[(a.id, month)]] if (a.id, month) in unit_of else []),
            ))

    by_network: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    by_month: dict[dt.date, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_network[(r.month, r.network)] += r.spend
        by_month[r.month] += r.spend
    network_totals = [
        FinanceTotal(m, n, s, plans.get((m, "network", n)),
                     _variance(s, plans.get((m, "network", n))),
                     kpis(per_network[(m, n)]))
        for (m, n), s in sorted(by_network.items())
    ]
    month_totals = []
    for month in _months(start, end):
        s = by_month.get(month, Decimal(0))
        plan = plans.get((month, "total", ""))
        month_totals.append(FinanceTotal(month, None, s, plan, _variance(s, plan),
                                         kpis(per_month[month])))
    grand = sum((t.spend for t in month_totals), Decimal(0))
    month_plans = [t.plan for t in month_totals]
    grand_plan = (sum((x for x in month_plans if x is not None), Decimal(0))
                  if all(x is not None for x in month_plans) else None)
    return FinanceReport(name, currency, start, end, rows, network_totals, month_totals,
                         FinanceTotal(None, None, grand, grand_plan,
                                      _variance(grand, grand_plan),
                                      kpis(units.values())))


def _money(value: Decimal | None) -> Money | None:
    return None if value is None else Money(value)


def to_csv(report: FinanceReport) -> str:
    """Rows, then the network and month totals and the grand total, marked in ``level``.
    Text cells are escaped against formula injection; amounts stay numbers."""
    header = ["level", "month", "network", "account", "account_name", "account_currency",
              "spend_local", f"spend_{report.currency.lower()}", "plan", "variance",
              *KPI_COLUMNS]  # the KPI columns come last: the first ten are a contract
    rows: list[list[Cell]] = []
    for r in report.rows:
        rows.append(["account", f"{r.month:%Y-%m}", r.network, r.account, r.account_name,
                     r.account_currency, _money(r.spend_local), _money(r.spend),
                     _money(r.plan), _money(r.variance), *kpi_cells(r.kpis)])
    for t in report.network_totals:
        rows.append(["network", f"{t.month:%Y-%m}", t.network, "", "", "", None,
                     _money(t.spend), _money(t.plan), _money(t.variance), *kpi_cells(t.kpis)])
    for t in report.month_totals:
        rows.append(["month", f"{t.month:%Y-%m}", "", "", "", "", None, _money(t.spend),
                     _money(t.plan), _money(t.variance), *kpi_cells(t.kpis)])
    g = report.total
    rows.append(["total", "", "", "", "", "", None, _money(g.spend), _money(g.plan),
                 _money(g.variance), *kpi_cells(g.kpis)])
    return render(header, rows)


def csv_filename(report: FinanceReport) -> str:
    return f"finance-{report.portfolio}-{report.start:%Y-%m}-{report.end:%Y-%m}"
