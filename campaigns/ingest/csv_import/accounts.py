"""The accounts a CSV import writes to: found by network and id, or created in the portfolio
the config gives them, in the time zone of the config's csv source."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.config import Settings, SourceSettings
from campaigns.ingest.csv_import.cells import CellParser
from campaigns.ingest.store import upsert_account
from campaigns.ingest.sync import portfolio_name_for, resolve_portfolio
from campaigns.models import AdAccount
from connectors.base import AccountRecord
from connectors.csv_options import CsvOptions


def ensure_account(
    session: Session,
    settings: Settings,
    csv_sources: list[SourceSettings],
    network: str,
    ext: str,
    currency: str,
    line: int,
    parser: CellParser,
    column: str = "currency",
) -> tuple[int, str] | None:
    """The account's id and currency; a currency unlike the stored one is an error at
    ``column`` (the file's title for it)."""
    existing = session.scalars(
        select(AdAccount).where(col(AdAccount.network) == network,
                                col(AdAccount.external_id) == ext)
    ).first()
    if existing is not None:
        if existing.currency != currency:
            parser.fail(
                line,
                column,
                f"account {network}:{ext} is in {existing.currency} "
                f"in the database, not {currency}",
            )
            return None
        assert existing.id is not None  # read from the table
        return existing.id, existing.currency
    source = next(
        (s for s in csv_sources if network in (_csv(s).networks or [network])),
        SourceSettings.model_validate({"name": "csv", "kind": "csv"}),
    )
    timezone = _csv(source).timezone
    portfolio = resolve_portfolio(
        session, settings, portfolio_name_for(settings, source, network, ext)
    )
    assert portfolio.id is not None  # resolving stores it
    account = upsert_account(
        session,
        AccountRecord(
            network=network, external_id=ext, name=ext, currency=currency, timezone=timezone
        ),
        source=source.name if source.name != "csv" else "csv",
        portfolio_id=portfolio.id,
    )
    assert account.id is not None  # the upsert flushed it
    return account.id, account.currency


def _csv(source: SourceSettings) -> CsvOptions:
    return CsvOptions.model_validate(source.options)
