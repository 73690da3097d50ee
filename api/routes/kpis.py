"""The KPI report: reach, engagement and cost rates by campaign, account, network or
portfolio over a period."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from api.caching import Responses
from api.deps import Reader, SessionDep
from api.params import Day
from api.schemas.kpis import PER_1000, KpiReport, KpiRow
from campaigns.admin.auth import Action
from campaigns.reports import kpis as service
from campaigns.reports.csv_export import CSV_MEDIA_TYPE, Cell, Money, attachment, render
from campaigns.reports.kpi_math import REACH_ESTIMATE
from campaigns.reports.kpi_units import rounded

router = APIRouter(tags=["reports"])


def report_model(report: service.KpiReport) -> KpiReport:
    """The API's (and the CLI's ``--json``) form of a KPI report."""
    return KpiReport(
        portfolio=report.portfolio, currency=report.currency, start=report.start,
        end=report.end, group_by=report.group_by, reach_estimate=REACH_ESTIMATE,
        rate_basis=f"engagement, amplification, applause and conversation rates are {PER_1000}",
        data=[_row(r) for r in report.rows],
    )


CENT = Decimal("0.01")


def _row(row: service.KpiRow) -> KpiRow:
    t = row.totals
    counts = {k: v for k, v in dataclasses.asdict(t).items()
              if k not in ("spend", "revenue", "conversions", "reported_impressions")}
    return KpiRow(
        key=row.key, name=row.name, spend=t.spend.quantize(CENT), revenue=t.revenue.quantize(CENT),
        conversions=Decimal(t.conversions).normalize(), **counts,
        **{k: rounded(v) for k, v in dataclasses.asdict(row.rates).items()},
        reach_estimated=row.reach_estimated,
    )


def to_csv(report: KpiReport) -> str:
    """One row per group, the JSON's fields as columns; empty where the JSON has null."""
    names = list(KpiRow.model_fields)

    def cell(value: object) -> Cell:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return Money(str(value))

    return render(names, ([cell(getattr(r, n)) for n in names] for r in report.data))


@router.get(
    "/kpis", response_model=KpiReport,
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
                     "description": "JSON, or CSV with `Accept: text/csv` or `format=csv`"}},
)
def get_kpis(
    request: Request, session: SessionDep, user: Reader, start: Day, end: Day,
    portfolio: Annotated[str, Query(min_length=1, max_length=100)] = "default",
    group_by: service.GroupBy = "campaign",
    format: Literal["json", "csv"] | None = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> KpiReport | Response:
    """Spend, impressions, clicks, conversions, revenue, the social counts and their rates
    for ``start..end`` (the accounts' local days). Reach is the platform's own figure for the
    period where the sync stored one, else a sum labelled ``reach_estimated``; a rate with a
    zero or unknown denominator is null."""

    def report() -> KpiReport:
        return report_model(service.kpi_report(
            session, portfolio=portfolio, start=start, end=end, group_by=group_by))

    if format == "csv" or (format is None and CSV_MEDIA_TYPE in (accept or "")):
        body = report()
        stem = f"kpis-{body.portfolio}-{body.group_by}-{body.start}-{body.end}"
        return Response(to_csv(body), media_type=CSV_MEDIA_TYPE, headers=attachment(stem))
    responses: Responses = request.app.state.responses
    return responses.answer(request, session, user, Action.read, report)
