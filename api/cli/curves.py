"""`budgetpilot curves lag`: the learnt completion curves, how fast conversions arrive."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from sqlmodel import Session

from api.cli.app import ConfigOption, app, engine_for, handles_errors, load
from api.schemas.lag import LagReport
from campaigns.optimization.nowcast import portfolio_lag
from optimizer.completion import REPORT_AGES

curves_app = typer.Typer(help="Curves learnt from the data.", no_args_is_help=True)
app.add_typer(curves_app, name="curves")


@curves_app.command("lag")
@handles_errors
def lag_command(
    config: ConfigOption = None,
    portfolio: Annotated[str, typer.Option(help="Portfolio name.")] = "default",
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="Learn from what was known that day "
        "(default: today, UTC).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the API's JSON report on stdout, nothing else.")] = False,
) -> None:
    """Each network's (and account's) share of a day's final conversions reported at 0, 1,
    3, 7, 14 and 30 days, learnt from how syncs and imports restated them.

    "prior" marks a network's default (no restatement seen yet); an account is listed once
    enough of its days were seen developing, else it reads its network's curve.
    """
    settings = load(config)
    day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    with Session(engine_for(settings)) as session:
        report = LagReport.of(portfolio, day, portfolio_lag(session, portfolio, day).to_json())
    if as_json:
        typer.echo(report.model_dump_json())
        return
    for line in lag_lines(report):
        typer.echo(line)


def lag_lines(report: LagReport) -> list[str]:
    ages = [str(a) for a in REPORT_AGES]
    head = f"{'network/account':<28}" + "".join(f"{a + 'd':>7}" for a in ages) + \
        f"{'days':>8}{'obs':>9}  source"
    lines = [f"{report.portfolio} as of {report.as_of}: share of a day's conversions "
             f"reported by its age (complete after {report.horizon_days} days)", head]
    for c in report.curves:
        name = c.network if c.account is None else f"  {c.network}:{c.account}"
        cells = "".join(f"{c.share[a] * 100:>6.0f}%" for a in ages)
        source = "learnt" if c.learnt else "prior"
        lines.append(f"{name:<28}{cells}{c.days:>8}{c.observations:>9}  {source}")
    return lines
