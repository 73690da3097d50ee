"""`budgetpilot campaigns results|set-result`: what each campaign buys, and a manager's word
on it (it wins over what sync reads from the platform's objective)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy import select
from sqlmodel import Session, col

from api.cli.app import ConfigOption, actor_name, app, engine_for, handles_errors, load
from campaigns.admin.result_kinds import find_campaign, set_result_kind
from campaigns.lookup import get_portfolio
from campaigns.models import AdAccount, Campaign
from campaigns.scopes import campaign_key
from connectors.result_kinds import RESULT_KINDS

campaigns_app = typer.Typer(
    help="Campaigns: the result each one buys (conversions, revenue, reach, engagement, "
    "video_views), as synced or as a manager set it.",
    no_args_is_help=True,
)
app.add_typer(campaigns_app, name="campaigns")

SYNCED = "synced"


@campaigns_app.command("set-result")
@handles_errors
def set_result_command(
    campaign: Annotated[str, typer.Argument(
        help="The campaign: its id or network:account:campaign (meta:act_1:123).")],
    result: Annotated[str, typer.Argument(
        help=f"One of {', '.join(RESULT_KINDS)}, or '{SYNCED}' to count the synced one again.")],
    config: ConfigOption = None,
    as_name: Annotated[str | None, typer.Option(
        "--as", help="Who acts (recorded in the audit log); default: the OS user.",
        show_default=False)] = None,
) -> None:
    """Set what a campaign buys; sync never overrides it."""
    settings = load(config)
    engine = engine_for(settings)
    with Session(engine, expire_on_commit=False) as session:
        found = find_campaign(session, campaign)
        kind = None if result.strip().lower() == SYNCED else result
        set_result_kind(session, found, kind, actor=actor_name(as_name, "operator"))
        session.commit()
        typer.echo(f"campaign {found.id} ({found.name or found.external_id}): "
                   f"{_describe(found)}")
    engine.dispose()


@campaigns_app.command("results")
@handles_errors
def results_command(
    config: ConfigOption = None,
    portfolio: Annotated[str, typer.Option(help="Portfolio to list.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
) -> None:
    """Each active campaign's platform objective, synced result and manager's result, and
    the result the configured objective counts."""
    from campaigns.optimization.inputs import result_kind

    settings = load(config)
    options = settings.optimizer
    sales = {"revenue": "revenue", "value": options.sales_result}.get(options.objective,
                                                                      "conversions")
    engine = engine_for(settings)
    with Session(engine, expire_on_commit=False) as session:
        owner = get_portfolio(session, portfolio)
        rows = session.execute(
            select(Campaign, AdAccount)
            .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
            .where(col(AdAccount.portfolio_id) == owner.id, col(Campaign.status) == "active")
            .order_by(col(AdAccount.network), col(AdAccount.external_id),
                      col(Campaign.external_id))
        ).all()
        out = [{"id": c.id, "campaign": campaign_key(a, c), "name": c.name,
                "objective": c.objective, "bid_strategy": c.bid_strategy,
                "synced": c.result_kind, "set": c.result_kind_user,
                "result": result_kind(c, sales)}
               for c, a in rows]
    engine.dispose()
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"{'campaign':<28} {'objective':<20} {'synced':<12} {'set':<12} result")
    for row in out:
        typer.echo(f"{row['campaign']:<28} {(row['objective'] or '-'):<20} "
                   f"{(row['synced'] or '-'):<12} {(row['set'] or '-'):<12} {row['result']}")


def _describe(campaign: Campaign) -> str:
    synced = campaign.result_kind or "conversions"
    if campaign.result_kind_user:
        return f"buys {campaign.result_kind_user} (set; synced: {synced})"
    return f"buys {synced} (synced)"
