"""`budgetpilot optimize` and `budgetpilot backtest`."""

from __future__ import annotations

import datetime as dt
import json
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from sqlmodel import Session

from api.cli.app import EXIT_REJECTED, ConfigOption, app, engine_for, handles_errors, load

if TYPE_CHECKING:  # the CLI imports the optimiser (numpy, pandas) only when it runs
    from campaigns.optimization.result import CurveSummary, ProposalResult

log = logging.getLogger("budgetpilot.optimize")


class ObjectiveChoice(StrEnum):
    conversions = "conversions"
    revenue = "revenue"
    value = "value"


class BacktestObjective(StrEnum):  # the sandbox replay budgets by one metric
    conversions = "conversions"
    revenue = "revenue"


@app.command("optimize")
@handles_errors
def optimize_command(
    config: ConfigOption = None,
    portfolio: Annotated[str, typer.Option(help="Portfolio to budget.")] = "default",
    total_budget: Annotated[
        float | None,
        typer.Option(help="Daily total in the reporting currency (default: sum of current).",
                     min=0),
    ] = None,
    objective: Annotated[
        ObjectiveChoice | None, typer.Option(help="Default: the config's [optimizer].")
    ] = None,
    max_change: Annotated[
        float | None,
        typer.Option(help="Max move per campaign as a fraction (0.2 = 20%).", min=0, max=10),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Plan as of this past day (YYYY-MM-DD): only history "
                     "before it and its FX rates; records the run, no shift."),
    ] = None,
    cautious: Annotated[
        float | None,
        typer.Option(help="Optimise this low quantile of each campaign's expected results "
                     "(0.2 = the 20th percentile) instead of its best estimate.",
                     min=0.01, max=0.5),
    ] = None,
) -> None:
    """Propose tomorrow's daily budgets from the stored history; records a run and a shift."""
    from campaigns.optimization.proposals import StaleHistoryError, propose, result_json
    from optimizer import Exploration

    settings = load(config)
    day = _as_of(as_of)
    engine = engine_for(settings)
    with Session(engine, expire_on_commit=False) as session:
        try:
            result = propose(
                session, settings, portfolio=portfolio, total_budget=total_budget,
                objective=objective.value if objective else None, max_change=max_change,
                created_by="cli", today=day,
                exploration=None if cautious is None else Exploration(
                    "cautious", strength=_sds_below(cautious)),
            )
        except StaleHistoryError as e:
            typer.echo(f"error: {e.message}", err=True)
            raise typer.Exit(EXIT_REJECTED) from None
        session.commit()
        out = result_json(session, result) if as_json else None
    if out is not None:
        typer.echo(json.dumps(out))
    else:
        typer.echo(render_table(result))


def _sds_below(quantile: float) -> float:
    """How many posterior sds below the estimate the `quantile` lies (normal)."""
    from statistics import NormalDist

    return -NormalDist().inv_cdf(quantile)


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)",
                                 param_hint=option) from None


def _as_of(text: str | None) -> dt.date | None:
    """The --as-of day: a valid date, not after today (UTC)."""
    if text is None:
        return None
    day = _day(text, "--as-of")
    if day > dt.datetime.now(dt.UTC).date():
        raise typer.BadParameter(f"{text} is in the future", param_hint="--as-of")
    return day


def render_table(result: ProposalResult) -> str:
    cur = result.currency
    exp, base = result.expected, result.baseline
    shift = (f"shift {result.shift_id} (proposed)" if result.shift_id is not None
             else f"as of {result.as_of.isoformat()}: no shift (a what-if)")
    lines = [
        f"run {result.run_id} · {shift} · objective "
        f"{result.objective} · total {result.total_budget:,.2f} {cur}",
        f"expected: {exp.conversions:,.1f} conversions, {exp.revenue:,.2f} {cur} revenue "
        f"on {exp.spend:,.2f} {cur}",
        f"baseline: {base.conversions:,.1f} conversions, {base.revenue:,.2f} {cur} revenue "
        f"on {base.spend:,.2f} {cur}",
    ]
    if exp.value is not None and base.value is not None:
        lines.append(f"value: {exp.value:,.2f} {cur} expected, {base.value:,.2f} {cur} at the "
                     "current budgets (each campaign's result at its configured worth)")
    if result.unspent_reason:
        lines.append(f"unspent {result.unspent:,.2f} {cur}: {result.unspent_reason}")
    for p in result.plans or ():  # [optimizer] follow_plans
        kept = (f"{p['held_low']:,.2f}-{p['held_high']:,.2f} {cur} a day (now "
                f"{p['current']:,.2f})" if "held_low" in p else "")
        lines.append(f"plan {p['scope']} {p['scope_key']} {p['planned']:,.2f} {cur}: "
                     f"{kept}{'; ' if kept else ''}followed: {p['followed']}")
    lines += ["", f"{'network':<8} {'account':<12} {'campaign':<16} {'ccy':<4} {'current':>11} "
              f"{'proposed':>11} {'change':>7} {'conv':>7} {'curve':>10}  reason"]
    for a in result.allocations:
        change = a.proposed_budget / a.current_budget - 1 if a.current_budget else 0.0
        lines.append(
            f"{a.network:<8} {a.account_id:<12} {a.campaign_id:<16} {a.currency:<4} "
            f"{a.current_budget:>11,.2f} {a.proposed_budget:>11,.2f} {change:>+7.1%} "
            f"{a.expected_conversions:>7.2f} {_certainty(a.curve):>10}  {a.reason}"
        )
    lines += ["", "curve: how sure the response curve is (± relative error of expected results "
              "at usual spend; 'prior' = the history could not pin the curve's shape, so it "
              "is borrowed from the network's)"]
    return "\n".join(lines)


def _certainty(curve: CurveSummary) -> str:
    if curve.relative_sd is None:
        return "-"
    text = f"±{curve.relative_sd:.0%}"
    return text if curve.identified else f"{text} prior"


@app.command("backtest")
@handles_errors
def backtest_command(
    days: Annotated[int, typer.Option(help="Days to simulate.", min=1, max=365)] = 30,
    start: Annotated[
        str | None, typer.Option(help="First simulated day (YYYY-MM-DD); default 2026-06-01.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Last simulated day (YYYY-MM-DD), instead of --start."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Sandbox seed.")] = 7,
    objective: Annotated[BacktestObjective, typer.Option()] = BacktestObjective.conversions,
    max_change: Annotated[float, typer.Option(min=0, max=10)] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay the sandbox: nightly re-optimisation vs static budgets at the same daily total."""
    from campaigns.optimization.backtest import run_backtest

    if start is not None and as_of is not None:
        raise typer.BadParameter("give --start or --as-of, not both", param_hint="--as-of")
    last = _as_of(as_of)
    first = (last - dt.timedelta(days=days - 1) if last is not None
             else _day(start or "2026-06-01", "--start"))
    start = first.isoformat()
    result = run_backtest(days=days, start=first, seed=seed,
                          objective=objective.value, max_change=max_change)
    s, o = result.static, result.optimised
    summary = {
        "days": days, "start": start, "daily_total_eur": round(result.total_budget, 2),
        "static": s.__dict__, "optimised": o.__dict__,
        "conversion_uplift": result.conversion_uplift, "revenue_uplift": result.revenue_uplift,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"sandbox seed {seed}, {days} days from {start}, daily total "
               f"{result.total_budget:,.2f} EUR in both worlds")
    typer.echo(f"{'':<10} {'conversions':>12} {'revenue EUR':>14} {'spend EUR':>12} {'CPA':>8}")
    for name, w in (("static", s), ("optimised", o)):
        typer.echo(f"{name:<10} {w.conversions:>12,.1f} {w.revenue:>14,.2f} {w.spend:>12,.2f} "
                   f"{w.spend / w.conversions:>8.2f}")
    typer.echo(f"uplift: conversions {result.conversion_uplift:+.1%}, revenue "
               f"{result.revenue_uplift:+.1%}")
