"""An account's sync holds no database connection while the platform prepares its report
(Meta's async insights take seconds to minutes): each worker's task slots then wait on the
platform without using up PostgreSQL's connections."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.config import settings_from_dict
from campaigns.ingest.sync import sync_account
from campaigns.models import DailyMetric
from connectors.base import AccountRecord
from connectors.sandbox import SandboxConnector

NOW = dt.datetime(2026, 6, 15, 2, 0, tzinfo=dt.UTC)


@pytest.mark.postgres
def test_no_connection_is_held_while_the_report_runs(pg_url: str) -> None:
    from campaigns.db import create_db_engine

    engine: Engine = create_db_engine(pg_url)
    held: list[int] = []

    def report_wait(seconds: float) -> None:  # the platform's report running: look around
        held.append(engine.pool.checkedout())  # type: ignore[attr-defined]

    settings = settings_from_dict({"sync": {"history_days": 10}, "sources": [
        {"name": "sandbox", "kind": "sandbox", "report_seconds": [5, 5]}]})
    connector = SandboxConnector(now=NOW, campaigns_per_account=3, report_seconds=(5.0, 5.0),
                                 sleep=report_wait)
    account = connector.list_accounts()[0]
    outcomes = sync_account(engine, settings, settings.source("sandbox"), connector,
                            AccountRecord(account.network, account.external_id, account.name,
                                          account.currency, account.timezone), now=NOW)
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
    assert held == [0]  # the report waited for once, with no connection checked out
    with Session(engine) as s:  # and its rows written after, in one unit of work
        assert len(s.exec(select(DailyMetric)).all()) == outcomes[1].rows > 0
    engine.dispose()
