"""`budgetpilot kpis`: reach, engagement and cost rates over a period, as a table or JSON."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from sqlmodel import Session

from api.cli.app import ConfigOption, app, engine_for, handles_errors, load
from campaigns.reports import kpis as service

if TYPE_CHECKING:  # FastAPI's schemas load when the command runs, not with every command
    from api.schemas.kpis import KpiReport, KpiRow

_COLUMNS = (  # heading, width, cell
    ("key", 28, lambda r: r.key),
    ("spend", 12, lambda r: str(r.spend)),
    ("impr", 10, lambda r: str(r.impressions)),
    ("clicks", 8, lambda r: str(r.clicks)),
    ("reach", 11, lambda r: _reach(r)),
    ("eng", 8, lambda r: _n(r.engagements)),
    ("CPM", 8, lambda r: _f(r.cpm)),
    ("CTR%", 6, lambda r: _f(None if r.ctr is None else r.ctr * 100)),
    ("CPA", 8, lambda r: _f(r.cpa)),
    ("ROAS", 6, lambda r: _f(r.roas)),
    ("freq", 5, lambda r: _f(r.frequency)),
    ("eng/1k", 7, lambda r: _f(r.engagement_rate)),
    ("shr/1k", 7, lambda r: _f(r.amplification_rate)),
    ("rct/1k", 7, lambda r: _f(r.applause_rate)),
    ("cmt/1k", 7, lambda r: _f(r.conversation_rate)),
    ("fans", 6, lambda r: _n(r.follows)),
)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _reach(row: KpiRow) -> str:
    """The platform's period figure as it is; a sum marked ``~`` (an estimate)."""
    return _n(row.reach) + ("~" if row.reach_estimated else "")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _line(cells: list[str]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, (_, w, _f)) in enumerate(zip(cells, _COLUMNS, strict=True))
    )


def _table(rows: list[KpiRow]) -> list[str]:
    return [_line([h for h, _, _ in _COLUMNS])] + [
        _line([cell(r) for _, _, cell in _COLUMNS]) for r in rows
    ]


@app.command("kpis")
@handles_errors
def kpis_command(
    config: ConfigOption = None,
    portfolio: Annotated[str, typer.Option(help="Portfolio name.")] = "default",
    start: Annotated[dt.datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="First day (default: 30 days before --end).")] = None,
    end: Annotated[dt.datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Last day (default: yesterday, UTC).")] = None,
    by: Annotated[service.GroupBy, typer.Option(
        "--by", help="campaign, account, network or portfolio.")] = "network",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the API's JSON report on stdout, nothing else.")] = False,
) -> None:
    """Spend, impressions, clicks, reach, the social counts and their rates.

    Reach is the platform's own count for the period where the sync stored one (Meta);
    marked "~" it is a sum of daily reach, an upper bound of the people reached. Social
    rates are per 1,000 impressions. "-" means no platform reported the figure.
    """
    from api.routes.kpis import report_model

    first, last = default_period(start.date() if start else None, end.date() if end else None)
    settings = load(config)
    with Session(engine_for(settings)) as session:
        report = report_model(service.kpi_report(
            session, portfolio=portfolio, start=first, end=last, group_by=by))
    if as_json:
        typer.echo(report.model_dump_json())
        return
    for line in kpi_lines(report):
        typer.echo(line)


def default_period(
    start: dt.date | None = None, end: dt.date | None = None, today: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The 30 days to yesterday (UTC) unless given: the period the sync also asks the
    platforms' period reach for."""
    last = end or (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)
    return start or last - dt.timedelta(days=29), last


def kpi_lines(report: KpiReport) -> list[str]:
    """The report as the terminal shows it: a heading line, then the table."""
    return [f"{report.portfolio} {report.start}..{report.end} by {report.group_by}, money in "
            f"{report.currency}; reach~ = {report.reach_estimate}", *_table(report.data)]
