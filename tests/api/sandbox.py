"""A small sandbox world for end-to-end tests: settings naming the sandbox platform (its
budgets kept in a state file), a database synced from it, and FX rates for its currencies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.config import Settings, settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import FxRate
from connectors.registry import build_connector, syncable_sources
from connectors.sandbox import SandboxConnector
from tests.api.conftest import SETTINGS

FX_TO_EUR = {"JPY": "0.00625", "USD": "0.925", "GBP": "1.18"}


def sandbox_settings(tmp_path: Path, **sections: Any) -> Settings:
    """The API tests' settings plus a sandbox source (2 campaigns per account, 45 days)."""
    raw: dict[str, Any] = {
        **SETTINGS,
        "sync": {"history_days": 45, "lookback_days": 7},
        "sources": [{"name": "sandbox", "kind": "sandbox", "seed": 7,
                     "campaigns_per_account": 2, "state_path": str(tmp_path / "sandbox.json")}],
        "portfolios": [{"name": "default", "reporting_currency": "EUR"}],
        "optimizer": {"objective": "conversions", "max_change": 0.2},
    }
    for name, value in sections.items():
        raw[name] = {**raw.get(name, {}), **value} if isinstance(value, dict) else value
    return settings_from_dict(raw)


def sync_sandbox(engine: Engine, settings: Settings) -> None:
    """Sync every source once and load yesterday's FX rates to EUR."""
    for source in syncable_sources(settings):
        report = sync_source(engine, settings, source, build_connector(source, settings))
        assert report.ok, report.failed
    add_fx_rates(engine)


def add_fx_rates(engine: Engine) -> None:
    """Yesterday's rates to EUR, unless the sync already brought them."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with Session(engine) as session:
        for currency, rate in FX_TO_EUR.items():
            known = session.exec(select(FxRate).where(
                FxRate.date == yesterday, FxRate.currency == currency, FxRate.quote == "EUR",
            )).first()
            if known is None:
                session.add(FxRate(date=yesterday, currency=currency, quote="EUR",
                                   rate=Decimal(rate)))
        session.commit()


def platform_budgets(settings: Settings) -> dict[str, Decimal]:
    """Each sandbox budget unit's budget in force today, read from a fresh connector."""
    source = settings.source("sandbox")
    platform = build_connector(source, settings)
    assert isinstance(platform, SandboxConnector)
    return {c.budget_key: Decimal(str(platform.budget_on(c, platform.local_today(c.account))))
            for c in platform.campaigns}
