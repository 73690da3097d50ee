"""Shared fixtures: a real database per test, on SQLite always and on PostgreSQL when reachable.

Use the ``engine`` fixture (parametrised over both back ends) or ``sqlite_engine`` for tests
that need only one. PostgreSQL tests run in a schema of their own per test process, so several
test runs can share the server.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from campaigns.db import create_db_engine, ensure_schema

PG_URL = os.environ.get("BUDGETPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> str | None:
    try:
        engine = create_db_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as e:  # any failure means "skip", with the reason shown
        return f"PostgreSQL not reachable at {PG_URL}: {type(e).__name__}: {str(e)[:120]}"


_PG_SKIP_REASON = _pg_reachable()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "budgetpilot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    with scratch_pg_schema() as url:
        yield url


@pytest.fixture
def own_pg_url() -> Iterator[str]:
    """A migrated PostgreSQL schema for this test alone: for tests whose other processes
    (workers) check the schema version that other tests in this process may change."""
    with scratch_pg_schema() as url:
        yield url


@contextmanager
def scratch_pg_schema() -> Iterator[str]:
    if _PG_SKIP_REASON:
        pytest.skip(_PG_SKIP_REASON)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    engine = create_db_engine(url)
    ensure_schema(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_url(pg_schema_url: str) -> Iterator[str]:
    engine = create_db_engine(pg_schema_url)
    _truncate_all(engine)
    engine.dispose()
    yield pg_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database URL: SQLite, and PostgreSQL when reachable."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_db_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


# The broker tests share the machine's one Redis and RabbitMQ: Celery's Redis transport
# restores every unacknowledged task of a database once the shortest visibility timeout among
# its users has passed, and their worker processes compete for two cores. Under xdist they all
# go to one xdist worker, one after another (``--dist loadgroup`` in scripts/test), so one
# test's workers never slow down or redeliver another's.
BROKER_TESTS = ("tests/workers/", "tests/bench/test_bench_agency.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(BROKER_TESTS):
            item.add_marker(pytest.mark.xdist_group("broker"))
