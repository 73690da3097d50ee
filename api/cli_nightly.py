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
) -> None:
    """Sync, optimise, propose, auto-approve inside the policy, apply approved shifts and
    evaluate alerts, once. A portfolio already being run elsewhere is skipped with a message;
    the exit code is 1 when a step failed."""
    from campaigns.nightly import run_nightly

    settings = load(config)
    report = run_nightly(engine_for(settings), settings, portfolios=portfolio or None)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)
