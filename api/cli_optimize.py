"""`budgetpilot optimize` and `budgetpilot backtest`."""

from __future__ import annotations

import datetime as dt
import json
import logging
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlmodel import Session

from api.cli import ConfigOption, app, engine_for, handles_errors, load

log = logging.getLogger("budgetpilot.optimize")


class ObjectiveChoice(StrEnum):
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
) -> None:
    """Propose tomorrow's daily budgets from the stored history; records a run and a shift."""
    from campaigns.optimization import propose

    settings = load(config)
    engine = engine_for(settings)
    with Session(engine, expire_on_commit=False) as session:
        result = propose(
            session, settings, portfolio=portfolio, total_budget=total_budget,
            objective=objective.value if objective else None, max_change=max_change,
            created_by="cli",
        )
        session.commit()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(render_table(result))


def render_table(result: dict[str, Any]) -> str:
    cur = result["currency"]
    exp, base = result["expected"], result["baseline"]
    lines = [
        f"run {result['run_id']} · shift {result['shift_id']} (proposed) · objective "
        f"{result['objective']} · total {result['total_budget']:,.2f} {cur}",
        f"expected: {exp['conversions']:,.1f} conversions, {exp['revenue']:,.2f} {cur} revenue "
        f"on {exp['spend']:,.2f} {cur}",
        f"baseline: {base['conversions']:,.1f} conversions, {base['revenue']:,.2f} {cur} revenue "
        f"on {base['spend']:,.2f} {cur}",
    ]
    if result.get("unspent_reason"):
        lines.append(f"unspent {result['unspent']:,.2f} {cur}: {result['unspent_reason']}")
    lines += ["", f"{'network':<8} {'account':<12} {'campaign':<16} {'ccy':<4} {'current':>11} "
              f"{'proposed':>11} {'change':>7} {'conv':>7} {'curve':>10}  reason"]
    for a in result["allocations"]:
        change = a["proposed_budget"] / a["current_budget"] - 1 if a["current_budget"] else 0.0
        lines.append(
            f"{a['network']:<8} {a['account_id']:<12} {a['campaign_id']:<16} {a['currency']:<4} "
            f"{a['current_budget']:>11,.2f} {a['proposed_budget']:>11,.2f} {change:>+7.1%} "
            f"{a['expected_conversions']:>7.2f} {_certainty(a.get('curve')):>10}  {a['reason']}"
        )
    lines += ["", "curve: how sure the response curve is (± relative error of expected results "
              "at usual spend; 'prior' = the history could not pin the curve's shape, so it "
              "is borrowed from the network's)"]
    return "\n".join(lines)


def _certainty(curve: dict[str, Any] | None) -> str:
    if not curve or curve.get("relative_sd") is None:
        return "-"
    text = f"±{curve['relative_sd']:.0%}"
    return text if curve.get("identified") else f"{text} prior"


@app.command("backtest")
@handles_errors
def backtest_command(
    days: Annotated[int, typer.Option(help="Days to simulate.", min=1, max=365)] = 30,
    start: Annotated[
        str, typer.Option(help="First simulated day (YYYY-MM-DD).")
    ] = "2026-06-01",
    seed: Annotated[int, typer.Option(help="Sandbox seed.")] = 7,
    objective: Annotated[ObjectiveChoice, typer.Option()] = ObjectiveChoice.conversions,
    max_change: Annotated[float, typer.Option(min=0, max=10)] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay the sandbox: nightly re-optimisation vs static budgets at the same daily total."""
    from campaigns.backtest import run_backtest

    result = run_backtest(days=days, start=dt.date.fromisoformat(start), seed=seed,
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
