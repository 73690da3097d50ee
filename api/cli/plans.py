"""`budgetpilot plans import|list`: monthly spend plans from finance's spreadsheet.

An import is one unit of work: every row is checked first (each error names its line and
column) and either all of the file's plans are created or updated, or none is (exit 3).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.app import EXIT_USAGE, ConfigOption, actor_name, app, engine_for, handles_errors, load
from campaigns.admin import plans
from campaigns.admin.plans_import import import_plans
from campaigns.db import session_scope
from campaigns.errors import ImportRejected
from campaigns.lookup import Page
from connectors.currencies import minor_unit

plans_app = typer.Typer(help="Monthly spend plans: import a CSV file, list them.",
                        no_args_is_help=True)
app.add_typer(plans_app, name="plans")

PortfolioOption = Annotated[str, typer.Option(help="The portfolio the plans are for.")]


def _amount(value: Decimal, currency: str) -> Decimal:
    """As the currency writes it: 7500.00 EUR, 900000 JPY (stored with six decimals)."""
    return Decimal(value).quantize(minor_unit(currency))


@plans_app.command("import")
@handles_errors
def import_command(
    path: Annotated[Path, typer.Argument(help="CSV: month, scope, scope_key, planned_spend "
                                         "[, currency, hard] (README: Plans from a file).")],
    config: ConfigOption = None,
    portfolio: PortfolioOption = "default",
    as_: Annotated[str | None, typer.Option("--as", help="Who imports (audit log); default: "
                                            "the OS user.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file and say what "
                                          "would change; write nothing.")] = False,
) -> None:
    """Create or update monthly plans from a CSV file, all or nothing."""
    settings = load(config)  # a config typo is refused before the file is read
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImportRejected(str(path), [f"cannot read the file: {e}"]) from None
    engine = engine_for(settings)
    with session_scope(engine) as session:
        result = import_plans(session, text, portfolio=portfolio, actor=actor_name(as_, "finance"),
                              source=str(path))
        if dry_run:
            session.rollback()
    engine.dispose()
    verb = "would import" if dry_run else "imported"
    typer.echo(f"{verb} {len(result.plan_ids)} plans from {path} into {portfolio!r}: "
               f"{result.created} new, {result.updated} updated, {result.unchanged} unchanged"
               + (" (dry run: nothing written)" if dry_run else ""))


@plans_app.command("list")
@handles_errors
def list_command(
    config: ConfigOption = None,
    portfolio: PortfolioOption = "default",
    month: Annotated[str | None, typer.Option(help="Only this month (2026-12).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a portfolio's plans by month and scope."""
    first = None
    if month is not None:
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            typer.echo(f"error: --month {month!r} is not a month like 2026-12", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    settings = load(config)
    engine = engine_for(settings)
    with session_scope(engine) as session:
        rows, count = plans.list_plans(session, Page(limit=1000), portfolio=portfolio,
                                       month=first)
        found: list[dict[str, Any]] = [{"id": r.id, "month": r.month.isoformat(), "scope": r.scope,
                  "scope_key": r.scope_key,
                  "planned_spend": str(_amount(r.planned_spend, r.currency)),
                  "currency": r.currency, "hard": r.hard, "version": r.version} for r in rows]
    engine.dispose()
    if as_json:
        typer.echo(json.dumps({"data": found, "count": count}, indent=2))
        return
    typer.echo(f"{'id':>5} {'month':<8} {'scope':<9} {'scope_key':<28} {'planned':>14} cur hard")
    for r in found:
        typer.echo(f"{r['id']:>5} {r['month'][:7]:<8} {r['scope']:<9} {r['scope_key'][:28]:<28} "
                   f"{r['planned_spend']:>14} {r['currency']} {'yes' if r['hard'] else ''}")
    typer.echo(f"{len(found)} of {count} plans")
