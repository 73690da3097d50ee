"""The `budgetpilot` command line: the app, its options, error handling and exit codes.

Commands live in the modules beside this one and register on :data:`app`;
:mod:`api.cli.main` imports them all.

Exit codes scripts can rely on:
  0  done
  1  done in part: some accounts or sources failed (each one is named on stderr)
  2  bad usage or configuration
  3  input rejected (a CSV file; nothing of it was written)
  4  the database cannot be used (schema too new, foreign tables, unreachable)
"""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from campaigns.config import Settings, load_settings
from campaigns.db import database_busy, is_locked, open_engine
from campaigns.errors import (
    BudgetPilotError,
    ConfigError,
    DatabaseBusyError,
    ImportRejected,
    SchemaError,
)
from connectors.redact import install_log_redaction, redact, remember_settings_secrets
from connectors.settings import SettingsError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REJECTED, EXIT_DATABASE = 0, 1, 2, 3, 4

app = typer.Typer(
    name="budgetpilot",
    help="Sync ad platforms, optimise daily budgets under caps, approve and apply the shifts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts name config keys like "[service] port": plain text, not markup.
    rich_markup_mode=None,
)
log = logging.getLogger("budgetpilot")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c",
        help="TOML config (default: $BUDGETPILOT_CONFIG, else ./configs/demo.toml if there, else "
        "built-in defaults: no sources, SQLite in the current folder). The database "
        "URL comes from $BUDGETPILOT_DATABASE_URL, else the config, else sqlite:///budgetpilot.db.",
        show_default=False,
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into one readable line on stderr and a documented exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ImportRejected as e:
            typer.echo(f"error: {redact(e.message)}", err=True)
            raise typer.Exit(EXIT_REJECTED) from None
        except (SchemaError, DatabaseBusyError) as e:
            typer.echo(f"error: database: {redact(e.message)}", err=True)
            raise typer.Exit(EXIT_DATABASE) from None
        except (ConfigError, SettingsError) as e:
            typer.echo(f"error: {redact(e.message)}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except BudgetPilotError as e:
            typer.echo(f"error: {redact(e.message)}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except OperationalError as e:  # the database went away or stayed locked mid-command
            command = fn.__name__.removesuffix("_command").replace("_", "-")
            message = (database_busy(command).message if is_locked(e)
                       else f"{command}: cannot use the database: {redact(str(e.orig))}")
            typer.echo(f"error: database: {message}", err=True)
            raise typer.Exit(EXIT_DATABASE) from None

    return wrapper


def setup_logging(verbose: bool = False) -> None:
    install_log_redaction()  # before any record is made: no log line shows a secret
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def load(config: Path | None) -> Settings:
    settings = load_settings(config)
    remember_settings_secrets(settings)
    return settings


def actor_name(name: str | None, fallback: str) -> str:
    """Who acts, for the audit log: the name given (``--as``, ``--by``), else the OS user,
    else ``fallback``."""
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no login name in this environment (a container)
            name = fallback
    return name.strip()[:100] or fallback


def engine_for(settings: Settings, *, upgrade: bool = True) -> Engine:
    from campaigns.jobs.nightly_sources import engine_connections

    connections = engine_connections(settings)
    return open_engine(settings.database_url, echo=settings.database.echo, upgrade=upgrade,
                       connections=connections)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")
    ] = False,
) -> None:
    setup_logging(verbose)
