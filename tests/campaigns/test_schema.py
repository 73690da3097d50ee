"""The schema is created, kept, upgraded and refused as a user upgrading would expect."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from campaigns.db import create_db_engine, current_revision, ensure_schema, head_revision
from campaigns.errors import SchemaError


def test_missing_database_is_created(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'new' / 'bp.db'}")
    assert ensure_schema(engine) == "created"
    assert current_revision(engine) == head_revision()
    assert {"campaign", "dailymetric", "budgetshift"} <= set(inspect(engine).get_table_names())
    assert ensure_schema(engine) == "current"


def test_empty_database_refused_without_upgrade(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with pytest.raises(SchemaError, match="init-db"):
        ensure_schema(engine, upgrade=False)


def test_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table invoices (id integer primary key, total text)")
        conn.execute("insert into invoices values (1, '9.99')")
    engine = create_db_engine(f"sqlite:///{path}")
    with pytest.raises(SchemaError, match="no budgetpilot schema version"):
        ensure_schema(engine)
    with sqlite3.connect(path) as conn:
        assert conn.execute("select total from invoices").fetchall() == [("9.99",)]


def test_unknown_newer_revision_is_refused(db_url: str) -> None:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        current = conn.execute(text("select version_num from alembic_version")).scalar_one()
        conn.execute(text("update alembic_version set version_num = 'ffff_future'"))
    try:
        with pytest.raises(SchemaError, match="does not know"):
            ensure_schema(engine)
    finally:
        # The PostgreSQL schema is shared by the tests of this process: leave it as found.
        with engine.begin() as conn:
            conn.execute(text("update alembic_version set version_num = :v"), {"v": current})
        engine.dispose()


def test_upgrade_from_the_first_schema_keeps_the_data(tmp_path: Path) -> None:
    from alembic import command

    from campaigns.db import alembic_config

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "insert into portfolio (name, reporting_currency, schedule, created_at) "
            "values ('brand-x', 'GBP', '0 2 * * *', '2026-01-01 00:00:00')"
        ))
        conn.execute(text(
            "insert into adaccount (portfolio_id, network, external_id, name, currency, "
            "timezone, source, status, created_at, updated_at) values (1, 'meta', 'act_9', "
            "'Old', 'GBP', 'Europe/London', 'meta', 'active', '2026-01-01', '2026-01-01')"
        ))
        conn.execute(text(
            "insert into campaign (account_id, network, external_id, name, status, "
            "budget_level, budget_shared, created_at, updated_at) values (1, 'meta', 'c1', "
            "'C', 'active', 'campaign', 0, '2026-01-01', '2026-01-01')"
        ))
        for cid_day, spend in (("2026-01-02", "10.5"), ("2026-01-03", "4")):
            conn.execute(text(
                "insert into dailymetric (campaign_id, account_id, date, spend, impressions, "
                "clicks, conversions, revenue, updated_at) values (1, 1, :d, :s, 0, 0, 1, 0, "
                "'2026-01-04')"
            ), {"d": cid_day, "s": spend})
    outcome = ensure_schema(engine)
    assert outcome == ("current" if head_revision() == "0001" else "upgraded")
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("select name, reporting_currency from portfolio")).all() == [
            ("brand-x", "GBP")]
        assert conn.execute(text("select external_id from adaccount")).scalar() == "act_9"
        # Totals that later versions keep per account and day are built from the old rows.
        totals = conn.execute(text("select date, spend from accountday order by date")).all()
        assert [(str(d), float(s)) for d, s in totals] == [
            ("2026-01-02", 10.5), ("2026-01-03", 4.0)]
        # A campaign from before result kinds: nothing synced, nothing set (it buys
        # conversions until the next sync reads its objective).
        assert conn.execute(text("select result_kind, result_kind_user from campaign")).all() == [
            (None, None)]


def test_migrations_match_the_models(db_url: str) -> None:
    """A model change without its migration would leave users' databases behind."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    engine.dispose()
    assert diff == []


def test_a_current_schema_is_checked_without_alembic(tmp_path: Path) -> None:
    """Every command checks the schema: at the head it reads the version table against the
    migration files' one head (the head alembic finds) without importing alembic, which
    would cost each start about half a second."""
    import subprocess
    import sys

    from campaigns.db import _at_listed_head

    url = f"sqlite:///{tmp_path / 'bp.db'}"
    engine = create_db_engine(url)
    assert not _at_listed_head(engine)  # nothing there yet: alembic creates it
    assert ensure_schema(engine) == "created"
    assert _at_listed_head(engine)
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '0001'"))
    assert not _at_listed_head(engine)
    with pytest.raises(SchemaError, match="older schema"):  # alembic's full check says so
        ensure_schema(engine, upgrade=False)
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = :v"),
                     {"v": head_revision()})
    check = ("import sys; from campaigns.db import open_engine; "
             f"open_engine({url!r}); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "False"
