"""`budgetpilot init-db|import-csv|sync|demo`: the data coming in, and the demo."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from api.cli.app import (
    EXIT_OK,
    EXIT_PARTIAL,
    ConfigOption,
    app,
    engine_for,
    handles_errors,
    load,
)
from campaigns.config import Settings
from campaigns.db import create_db_engine, ensure_schema
from campaigns.errors import (
    BudgetPilotError,
    ConfigError,
)
from campaigns.models import AdAccount, Campaign, DailyMetric, SyncRun
from connectors.redact import redact


@app.command("init-db")
@handles_errors
def init_db(config: ConfigOption = None) -> None:
    """Create the database, or upgrade it to this version's schema (data is kept)."""
    settings = load(config)
    engine = create_db_engine(settings.database_url)
    outcome = ensure_schema(engine)
    typer.echo(f"database {outcome}: {_safe_url(settings.database_url)}")


@app.command("import-csv")
@handles_errors
def import_csv_command(
    path: Annotated[Path, typer.Argument(help="CSV file: one row per campaign per day.")],
    config: ConfigOption = None,
    format: Annotated[str, typer.Option(
        "--format", help="auto, budgetpilot, tiktok, snapchat, x, linkedin, vk, meta, google, "
        "or an [[imports]] name from the config.")] = "auto",
    account: Annotated[str | None, typer.Option(
        help="Account id for a platform export that has no account column.")] = None,
    currency: Annotated[str | None, typer.Option(
        help="ISO currency for a platform export that names none.")] = None,
) -> None:
    """Import daily results from our CSV format or a platform's own export.

    Our columns: date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,
    clicks,conversions,revenue[,daily_budget]. Platform exports are recognised by their header
    (README: Platform exports). Re-importing the same rows changes nothing; a file with a bad
    row is refused whole, naming the line and column.
    """
    from tqdm import tqdm  # here: only a command that shows progress pays its import

    from campaigns.ingest.csv_import.importer import format_names, import_csv

    settings = load(config)
    if format not in format_names(settings):
        raise ConfigError(f"--format: {format!r} is not a format; one of "
                          f"{', '.join(format_names(settings))}")
    engine = engine_for(settings)
    with tqdm(desc=f"importing {path.name}", unit=" rows", file=sys.stderr,
              disable=None, unit_scale=True) as bar:
        result = import_csv(engine, path, settings=settings, on_rows=bar.update,
                            format=format, account=account, currency=currency)
    skipped = f", {result.skipped} total rows skipped" if result.skipped else ""
    typer.echo(
        f"imported {result.rows} rows from {path} ({result.format} format{skipped}): "
        f"{result.accounts} accounts, {result.campaigns} campaigns ({result.new_campaigns} new), "
        f"{result.first_date} to {result.last_date}"
    )
    for note in result.warnings:
        typer.echo(f"note: {note}")
    _settle_exported(engine, "import-csv")


def _settle_exported(engine: Engine, actor: str) -> None:
    """Exported shift items whose new budget the data now shows are applied (ingest cannot
    do it: shifts sit above it)."""
    from campaigns.shifts.settling import settle_after_ingest

    settled = settle_after_ingest(engine, actor=actor)
    if settled:
        typer.echo(f"settled exported shift items {', '.join(map(str, settled))}: the "
                   "platform shows their new budgets")


@app.command("sync")
@handles_errors
def sync_command(
    config: ConfigOption = None,
    account: Annotated[
        str | None,
        typer.Option(help="Only this account: its id, or network:id."),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this config source.")] = None,
) -> None:
    """Sync accounts, campaigns, ad sets and daily metrics from the configured platforms.

    Each sync re-reads the lookback window so restated conversions overwrite. One failing
    account never stops the others; the exit code is 1 when any failed.
    """
    settings = load(config)
    engine = engine_for(settings)
    failed = run_sync(engine, settings, account=account, only_source=source)
    _settle_exported(engine, "sync")
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


def run_sync(
    engine: Engine,
    settings: Settings,
    *,
    account: str | None = None,
    only_source: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Sync every source; prints one line per account and returns how many streams failed."""
    from tqdm import tqdm

    from campaigns.ingest.connectors import connector_for, syncable_sources
    from campaigns.ingest.sync import sync_source

    sources = syncable_sources(settings)
    if only_source:
        sources = [settings.source(only_source)]
    if not sources:
        raise ConfigError("the config has no [[sources]] to sync (CSV data: use import-csv)")
    runner = None
    if settings.queue.broker_url:  # one task per account on the workers; else here, in turn
        from campaigns.jobs.sync_fanout import worker_runner

        runner = worker_runner(settings, engine)
    failed = 0
    matched = False
    for source in sources:
        try:
            connector = connector_for(source, settings)
        except BudgetPilotError as e:
            typer.echo(f"{source.name}: cannot connect: {redact(e.message)}", err=True)
            failed += 1
            continue
        with tqdm(desc=f"syncing {source.name}", unit=" accounts", file=sys.stderr,
                  disable=None) as bar:
            report = sync_source(engine, settings, source, connector, now=now, account=account,
                                 on_account=lambda _label: bar.update(), run_accounts=runner)
        matched = matched or any(o.stream != "accounts" for o in report.outcomes)
        for outcome in report.outcomes:
            if outcome.status == "succeeded":
                if outcome.stream == "metrics":
                    w = outcome.window
                    window = f" {w[0]}..{w[1]}" if w else ""
                    typer.echo(f"{outcome.account}: {outcome.rows} metric rows{window}")
            else:
                failed += 1
                typer.echo(f"{outcome.account}: {outcome.stream} FAILED: "
                           f"{redact(outcome.error or '')}", err=True)
    if account and not matched and not failed:
        raise ConfigError(f"no configured source reaches account {account!r}")
    return failed


@app.command("demo")
@handles_errors
def demo(config: ConfigOption = None) -> None:
    """Set up the embedded default (SQLite + the sandbox platform), sync ~90 days, summarise,
    and propose tomorrow's budgets."""
    settings = load(config)
    engine = engine_for(settings)
    typer.echo(f"database: {_safe_url(settings.database_url)}")
    failed = run_sync(engine, settings)
    typer.echo("")
    typer.echo(summary(engine))
    typer.echo("")
    typer.echo(kpis_for_demo(engine))
    typer.echo("")
    typer.echo(propose_for_demo(engine, settings))
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


def kpis_for_demo(engine: Engine) -> str:
    """Reach, engagement and cost rates per network over the 30 days to yesterday, as
    `budgetpilot kpis` prints them."""
    from api.cli.kpis import default_period, kpi_lines
    from api.routes.kpis import report_model
    from campaigns.reports.kpis import kpi_report

    start, end = default_period()
    with Session(engine) as session:
        report = report_model(kpi_report(
            session, portfolio="default", start=start, end=end, group_by="network"))
    return "KPIs by network (budgetpilot kpis):\n" + "\n".join(kpi_lines(report))


def propose_for_demo(engine: Engine, settings: Settings) -> str:
    """Tomorrow's proposed budgets for the default portfolio, as `budgetpilot optimize` shows."""
    from api.cli.optimize import render_table
    from campaigns.optimization.proposals import propose

    with Session(engine, expire_on_commit=False) as session:
        result = propose(session, settings, portfolio="default", total_budget=None,
                         objective=None, max_change=None, created_by="demo")
        session.commit()
    return (
        "proposed budgets for tomorrow (a shift waiting for a manager's approval; nothing "
        "changes on the platforms until it is approved and applied):\n" + render_table(result)
    )


def summary(engine: Engine) -> str:
    """A readable picture of what is in the database."""
    with Session(engine) as session:
        n_accounts = session.scalar(select(func.count()).select_from(AdAccount)) or 0
        n_campaigns = session.scalar(select(func.count()).select_from(Campaign)) or 0
        span = session.execute(select(func.min(col(DailyMetric.date)),
                                      func.max(col(DailyMetric.date)))).one()
        by_network = session.execute(
            select(
                col(AdAccount.network), col(AdAccount.currency),
                func.count(func.distinct(col(DailyMetric.campaign_id))),
                func.sum(col(DailyMetric.spend)), func.sum(col(DailyMetric.conversions)),
                func.sum(col(DailyMetric.revenue)),
            )
            .join(AdAccount, col(AdAccount.id) == col(DailyMetric.account_id))
            .group_by(col(AdAccount.network), col(AdAccount.currency))
            .order_by(col(AdAccount.network), col(AdAccount.currency))
        ).all()
        kind = func.coalesce(col(Campaign.result_kind_user), col(Campaign.result_kind),
                             "conversions")
        by_result = session.execute(
            select(kind, func.count()).where(col(Campaign.status) == "active")
            .group_by(kind).order_by(func.count().desc(), kind)
        ).all()
        latest = session.execute(
            select(col(AdAccount.network), col(AdAccount.external_id), col(AdAccount.name),
                   col(SyncRun.stream),
                   col(SyncRun.status), col(SyncRun.finished_at), col(SyncRun.error))
            .join(AdAccount, col(AdAccount.id) == col(SyncRun.account_id))
            .order_by(col(SyncRun.id).desc())
        ).all()
    lines = [
        f"{n_accounts} accounts, {n_campaigns} campaigns, metrics from {span[0]} to {span[1]}",
    ]
    if by_result:
        bought = ", ".join(f"{n} {k}" for k, n in by_result)
        lines.append(f"active campaigns by what they buy: {bought} "
                     "(budgetpilot campaigns results)")
    lines += [
        "",
        f"{'network':<10} {'currency':<8} {'campaigns':>9} {'spend':>16} {'conversions':>12} "
        f"{'CPA':>10} {'ROAS':>6}",
    ]
    for network, currency, n, spend, conv, revenue in by_network:
        spend, conv, revenue = (Decimal(str(x or 0)) for x in (spend, conv, revenue))
        cpa = f"{spend / conv:,.2f}" if conv else "-"
        roas = f"{revenue / spend:.2f}" if spend else "-"
        lines.append(
            f"{network:<10} {currency:<8} {n:>9} {spend:>16,.2f} {conv:>12,.0f} {cpa:>10} "
            f"{roas:>6}"
        )
    lines += ["", "last sync per account:"]
    shown: set[tuple[str, str]] = set()
    for network, ext, name, stream, status, finished, error in latest:
        if (network, ext) in shown:
            continue
        shown.add((network, ext))
        when = finished.strftime("%Y-%m-%d %H:%M UTC") if finished else "-"
        detail = f" ({redact(error)})" if error else ""
        label = f"{network}:{ext}"
        lines.append(f"  {label:<20} {name:<22} {stream:<9} {status:<9} {when}{detail}")
    return "\n".join(lines)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
