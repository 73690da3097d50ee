"""`budgetpilot nightly`: run the nightly job once (for cron users and tests)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from api.cli.app import (
    EXIT_OK,
    EXIT_PARTIAL,
    ConfigOption,
    actor_name,
    app,
    engine_for,
    handles_errors,
    load,
)


@app.command("nightly")
@handles_errors
def nightly_command(
    config: ConfigOption = None,
    portfolio: Annotated[
        list[str] | None, typer.Option(help="Only this portfolio (repeatable). Default: all.")
    ] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Run again a slot of the schedule that has already run.")] = False,
    dry_run: Annotated[bool | None, typer.Option(
        "--dry-run/--no-dry-run",
        help="Compute everything and print what would change; approve nothing, write "
        "nothing to the platforms. Default: [automation] dry_run.")] = None,
    slot: Annotated[dt.datetime | None, typer.Option(
        "--slot", formats=["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M"],
        help="Run for this scheduled time (UTC unless an offset is given, e.g. "
        "2026-06-15T02:00), e.g. to catch up a missed night. Default: the latest time the "
        "portfolio's schedule fired.")] = None,
) -> None:
    """Apply approved shifts, sync, optimise and propose from the budgets now in force,
    auto-approve inside the policy, apply, and evaluate alerts, once; print each budget
    change made (or, in a dry run, that would be made).

    A run stands for the latest slot of the portfolio's schedule: a slot that has run is a
    no-op unless --force. A portfolio already being run elsewhere, or paused (budgetpilot
    automation pause), is skipped with a message naming who ran it and when (exit code 0);
    the exit code is 1 when a step failed. Each step's wall time and outcome is printed.

    With [queue] broker_url the run is a Celery workflow on `budgetpilot worker` processes
    (one sync task per account, then the portfolio optimised, approved and applied as
    tasks); this command submits it, prints its progress on stderr and waits for its end."""
    from campaigns.jobs.nightly import check_config, run_nightly
    from campaigns.jobs.nightly_runs import this_holder

    settings = load(config)
    check_config(settings)  # a bad schedule, time zone or [automation] key: exit 2, nothing run
    if slot is not None and slot.tzinfo is None:
        slot = slot.replace(tzinfo=dt.UTC)
    report = run_nightly(engine_for(settings), settings, portfolios=portfolio or None,
                         force=force, dry_run=dry_run, slot=slot,
                         holder=this_holder("budgetpilot nightly"),
                         on_progress=lambda line: typer.echo(line, err=True))
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


automation_app = typer.Typer(
    help="The kill switch: pause or resume automation globally, per portfolio or per account.",
    no_args_is_help=True)
app.add_typer(automation_app, name="automation")

PortfolioScope = Annotated[str | None, typer.Option(
    "--portfolio", help="Only this portfolio (default: all automation).")]
AccountScope = Annotated[str | None, typer.Option(
    "--account", help="Only this account: network:external_id (or the id alone when unique).")]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log.")]
Actor = Annotated[str | None, typer.Option(
    "--by", help="Who (for the audit log). Default: $USER.")]


def _print_state(session: Any) -> None:
    from campaigns.admin.automation import pause_state

    state = pause_state(session)
    if not state.pauses:
        typer.echo("automation: running (nothing paused)")
    for p in state.pauses:
        since = f"{p.paused_at:%Y-%m-%d %H:%M} UTC" if p.paused_at else "?"
        typer.echo(f"paused: {p.where} since {since} by {p.paused_by}: {p.reason}")


@automation_app.command("pause")
@handles_errors
def automation_pause(reason: Reason, portfolio: PortfolioScope = None,
                     account: AccountScope = None, by: Actor = None,
                     config: ConfigOption = None) -> None:
    """Pause automation: the nightly job skips a paused portfolio (all of them under a global
    pause) and neither auto-approves nor applies a paused account's items."""
    from sqlmodel import Session

    from campaigns.admin.automation import pause

    engine = engine_for(load(config))
    with Session(engine) as session:
        done = pause(session, actor=actor_name(by, "cli"), reason=reason, portfolio=portfolio,
                     account=account)
        session.commit()
        typer.echo(f"paused {done.where}")
        _print_state(session)


@automation_app.command("resume")
@handles_errors
def automation_resume(reason: Reason, portfolio: PortfolioScope = None,
                      account: AccountScope = None, by: Actor = None,
                      config: ConfigOption = None) -> None:
    """Lift a pause (name the same scope it was given)."""
    from sqlmodel import Session

    from campaigns.admin.automation import resolve_scope, resume

    engine = engine_for(load(config))
    with Session(engine) as session:
        lifted = resume(session, actor=actor_name(by, "cli"), reason=reason, portfolio=portfolio,
                        account=account)
        session.commit()
        if lifted is None:
            scope, key = resolve_scope(session, portfolio=portfolio, account=account)
            typer.echo(f"{'all automation' if scope == 'global' else f'{scope} {key}'} "
                       "was not paused")
        else:
            typer.echo(f"resumed {lifted.where}")
        _print_state(session)


@automation_app.command("status")
@handles_errors
def automation_status(config: ConfigOption = None) -> None:
    """What is paused, since when, by whom and why."""
    from sqlmodel import Session

    engine = engine_for(load(config))
    with Session(engine) as session:
        _print_state(session)
