"""`budgetpilot nightly`: run the nightly job once (for cron users and tests)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import EXIT_OK, EXIT_PARTIAL, ConfigOption, app, engine_for, handles_errors, load


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
) -> None:
    """Apply approved shifts, sync, optimise and propose from the budgets now in force,
    auto-approve inside the policy, apply, and evaluate alerts, once; print each budget
    change made (or, in a dry run, that would be made).

    A run stands for the latest slot of the portfolio's schedule: a slot that has run is a
    no-op unless --force. A portfolio already being run elsewhere, or paused (budgetpilot
    automation pause), is skipped with a message; the exit code is 1 when a step failed."""
    from campaigns.nightly import check_config, run_nightly

    settings = load(config)
    check_config(settings)  # a bad schedule, time zone or [automation] key: exit 2, nothing run
    report = run_nightly(engine_for(settings), settings, portfolios=portfolio or None,
                         force=force, dry_run=dry_run)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)
