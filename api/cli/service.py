"""`budgetpilot serve` and `budgetpilot token create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from api.cli.app import ConfigOption, app, engine_for, handles_errors, load
from campaigns.admin import auth
from campaigns.admin.auth import Role

token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command("serve")
@handles_errors
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Default: [service] host, 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: [service] port, 8000.")] = None,
    workers: Annotated[int | None, typer.Option(help="Default: [service] workers, 1.")] = None,
) -> None:
    """Serve the API (/api/v1, /docs) and the approvers' dashboard (/) with uvicorn.

    With ``[scheduler] enabled = true`` the nightly job runs inside the service on each
    portfolio's schedule (one run per slot, however many workers).
    """
    import os

    import uvicorn

    from campaigns.config import CONFIG_ENV
    from campaigns.jobs.nightly import check_config
    from campaigns.policy import service_config

    settings = load(config)
    policy = service_config(settings).service
    engine_for(settings).dispose()  # migrate once, before the workers start
    # A bad cron expression, time zone or [automation] key fails here, not in a worker.
    check_config(settings)
    if settings.path is not None:
        os.environ[CONFIG_ENV] = str(settings.path.resolve())
    uvicorn.run("api.server:build", factory=True, host=host or policy.host,
                port=port or policy.port, workers=workers or policy.workers,
                log_level="warning", access_log=False)


@token_app.command("create")
@handles_errors
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses it.")],
    role: Annotated[Role, typer.Option("--role", help="viewer|finance|manager|admin|service")],
    portfolio: Annotated[list[str] | None, typer.Option(
        "--portfolio", help="Limit the token to this portfolio (repeat for more); "
        "default: every portfolio. Admin tokens are always global.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a token. It is shown once, alone on the last line of the output."""
    engine = engine_for(load(config))
    with Session(engine) as session:
        row, secret = auth.create_token(session, name=name, role=role.value, actor="cli",
                                        portfolios=portfolio)
        session.commit()
        where = ", ".join(sorted(set(portfolio))) if portfolio else "every portfolio"
        typer.echo(f"token {row.id} for {row.name} ({row.role}, {where}); store it now, it is "
                   "not shown again:")
    typer.echo(secret)


@token_app.command("list")
@handles_errors
def token_list(
    config: ConfigOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List tokens (never their secrets)."""
    engine = engine_for(load(config))
    with Session(engine) as session:
        tokens = auth.list_tokens(session, include_revoked=all_)
        scopes = auth.token_portfolios(session, [t.id for t in tokens if t.id is not None])
        for t in tokens:
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
            where = ",".join(scopes.get(t.id, [])) or "*"  # type: ignore[arg-type]
            typer.echo(f"{t.id}\t{t.name}\t{t.role}\t{t.prefix}...\t{state}\t{where}")


@token_app.command("revoke")
@handles_errors
def token_revoke(
    name: Annotated[str | None, typer.Option("--name", help="Revoke its live tokens.")] = None,
    token_id: Annotated[int | None, typer.Option("--id", help="Revoke this token.")] = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a token by id or name."""
    engine = engine_for(load(config))
    with Session(engine) as session:
        rows = auth.revoke_token(session, token_id=token_id, name=name, actor="cli")
        lines = [f"revoked token {t.id} ({t.name}, {t.role})" for t in rows]
        session.commit()
    typer.echo("\n".join(lines))
