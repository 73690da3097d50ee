"""Pacing (month to date against plan) and the finance report (JSON or CSV)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from api.caching import Responses
from api.deps import ConfigDep, FinanceReader, Reader, SessionDep
from api.params import Month, OptionalDay, OptionalMonth
from api.schemas.finance import FinanceReport
from api.schemas.kpis import ScopeKpis
from api.schemas.pacing import PacingReport, PacingRow
from campaigns.admin.auth import Action
from campaigns.ingest.names import scope_names
from campaigns.reports import finance
from campaigns.reports import pacing as pacing_service
from campaigns.reports.cache import Cache
from campaigns.reports.csv_export import CSV_MEDIA_TYPE, Cell, Money, attachment
from campaigns.reports.csv_export import render as render_csv
from campaigns.reports.kpi_units import KPI_COLUMNS, KpiFields, kpi_cells

router = APIRouter(tags=["reports"])
PortfolioName = Annotated[str, Query(min_length=1, max_length=100)]


def _cache(request: Request) -> Cache[Any]:
    return request.app.state.cache


def _responses(request: Request) -> Responses:
    return request.app.state.responses


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@router.get(
    "/pacing", response_model=PacingReport,
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
                     "description": "JSON, or CSV with `Accept: text/csv` or `format=csv` "
                     "(one row per scope, the KPI columns last)",
                     "headers": {"Content-Disposition": {
                         "description": 'CSV only: `attachment; filename="pacing-….csv"`',
                         "schema": {"type": "string"}}}}},
)
def get_pacing(
    request: Request, session: SessionDep, config: ConfigDep, user: Reader,
    portfolio: PortfolioName = "default", month: OptionalMonth = None,
    as_of: OptionalDay = None, format: Literal["json", "csv"] | None = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> PacingReport | Response:
    """Month-to-date spend against plan for the total, each network, account and planned
    campaign, with each scope's month-to-date KPIs; ``as_of`` defaults to yesterday, ``month``
    (`YYYY-MM`) to the month of ``as_of``. A past month is reported as of its last day; a month
    not begun by ``as_of`` is a 422."""

    def render() -> PacingReport:
        report = pacing_service.pacing_report(
            session, portfolio=portfolio, settings=config.pacing, month=month, as_of=as_of,
            cache=_cache(request),
        )
        names = scope_names(session, ((x.scope, x.scope_key) for x in report.scopes))
        return PacingReport(
            portfolio=report.portfolio, month=report.month, as_of=report.as_of,
            days_elapsed=report.days_elapsed, days_in_month=report.days_in_month,
            data=[PacingRow(
                scope=x.scope, scope_key=x.scope_key, currency=report.currency,
                scope_name=names.get((x.scope, x.scope_key)),
                planned=x.amounts.planned, spend_to_date=x.amounts.spend_to_date,
                expected_to_date=x.amounts.expected_to_date,
                forecast=x.amounts.forecast, run_rate=x.amounts.run_rate,
                pace_ratio=_ratio(x.result.pace_ratio),
                forecast_ratio=_ratio(x.result.forecast_ratio),
                status=x.result.status,
                forecast_low=x.amounts.forecast_low,
                forecast_high=x.amounts.forecast_high,
                forecast_method=x.result.forecast_method,
                kpis=ScopeKpis.model_validate(dataclasses.asdict(x.kpis) if x.kpis else {}),
            ) for x in report.scopes],
        )

    if format == "csv" or (format is None and CSV_MEDIA_TYPE in (accept or "")):
        body = render()
        stem = f"pacing-{body.portfolio}-{body.month:%Y-%m}-{body.as_of}"
        return Response(pacing_csv(body), media_type=CSV_MEDIA_TYPE, headers=attachment(stem))
    return _responses(request).answer(request, session, user, Action.read, render)


def pacing_csv(report: PacingReport) -> str:
    """One row per scope: the JSON row's fields in order, then the KPI columns; empty for
    null, text cells escaped against formulas."""
    fields = [n for n in PacingRow.model_fields if n != "kpis"]

    def cell(value: object) -> Cell:
        if value is None or isinstance(value, str):
            return value
        return Money(str(value))

    rows = ([cell(getattr(r, n)) for n in fields]
            + kpi_cells(KpiFields(**r.kpis.model_dump())) for r in report.data)
    return render_csv([*fields, *KPI_COLUMNS], rows)


@router.get(
    "/finance/spend-vs-plan",
    response_model=FinanceReport,
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
                     "description": "JSON, or CSV with `Accept: text/csv` or `format=csv` "
                     "(a download: text cells that start a formula are escaped with `'`)",
                     "headers": {"Content-Disposition": {
                         "description": 'CSV only: `attachment; filename="finance-….csv"`',
                         "schema": {"type": "string"}}}}},
)
def finance_report(
    request: Request, session: SessionDep, config: ConfigDep, user: FinanceReader,
    start_month: Month, end_month: Month, portfolio: PortfolioName = "default",
    as_of: OptionalDay = None, format: Literal["json", "csv"] | None = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> FinanceReport | Response:
    """Spend against plan by month x network x account in the reporting currency, through
    ``as_of`` (default yesterday), with each month's end-of-month forecast; a row lacking an
    FX rate is marked with the rate to add and left out of the totals."""

    def report() -> finance.FinanceReport:
        return finance.finance_report(session, portfolio=portfolio, start_month=start_month,
                                      end_month=end_month, cache=_cache(request), as_of=as_of,
                                      pacing=config.pacing)

    if format == "csv" or (format is None and CSV_MEDIA_TYPE in (accept or "")):
        csv = report()
        return Response(finance.to_csv(csv), media_type=CSV_MEDIA_TYPE,
                        headers=attachment(finance.csv_filename(csv)))
    return _responses(request).answer(
        request, session, user, Action.read_finance,
        lambda: FinanceReport.model_validate(dataclasses.asdict(report())))
