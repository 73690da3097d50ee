"""Engine, sessions and schema versioning.

Every command opens the database through :func:`open_engine`, which brings an older schema up
to date with Alembic (a user upgrading keeps their data) and refuses a database it does not
understand instead of writing into it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from campaigns import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from campaigns.errors import ConfigError, DatabaseBusyError, SchemaError
from connectors.redact import redact

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_db_engine(url: str, *, echo: bool = False, pool_size: int | None = None,
                     pool_timeout: float = 30.0, connections: int | None = None) -> Engine:
    """An engine for ``url``. ``pool_size`` caps the PostgreSQL connections it holds (a
    worker process: no overflow past it); a caller beyond it waits up to ``pool_timeout``
    seconds for one to come back instead of opening another. Without it the pool keeps 10
    and opens up to ``connections`` (at least 30) when that many are in use at once (a
    nightly's submitter holding several portfolios' locks)."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:  # the parser quotes the URL, password and all
        raise ConfigError(
            f"the database URL {redact(url)} is not valid: {redact(str(e))}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, object] = {"check_same_thread": False}
        if "timeout" not in parsed.query:  # ``sqlite:///x.db?timeout=5`` sets the lock wait
            connect_args["timeout"] = 30
        engine = create_engine(url, echo=echo, connect_args=connect_args)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the API read while a sync writes; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Bulk upserts touch index pages all over a large table; the 2 MB default thrashes.
            cur.execute("PRAGMA cache_size=-131072")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        return engine
    if pool_size is not None:
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool_size,
                             max_overflow=0, pool_timeout=pool_timeout)
    overflow = max(20, (connections or 0) - 10)
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10,
                         max_overflow=overflow)


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked": another connection holds the write lock."""
    orig = getattr(exc, "orig", exc)
    return isinstance(exc, OperationalError | sqlite3.OperationalError) and (
        "database is locked" in str(orig) or "database table is locked" in str(orig)
    )


def database_busy(what: str) -> DatabaseBusyError:
    """The error a user reads for a locked SQLite database: what waited, and what to do.

    Never the SQL statement and its parameters: they say nothing useful and may hold data.
    """
    return DatabaseBusyError(
        f"{what}: the SQLite database is locked: another budgetpilot process (a sync, an "
        "import, the service) is writing to it. Wait for it to finish and retry; to run "
        "several writers at once use PostgreSQL (BUDGETPILOT_DATABASE_URL)."
    )


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_schema(engine: Engine, *, upgrade: bool = True) -> str:
    """Bring the schema to the code's version, or refuse with a reason.

    Returns what happened: "created", "upgraded" or "current".
    """
    if _at_listed_head(engine):
        return "current"
    from alembic import command
    from alembic.script import ScriptDirectory

    try:
        current = current_revision(engine)
        tables = set(inspect(engine).get_table_names())
    except OperationalError as e:
        if is_locked(e):
            raise database_busy("checking the schema") from None
        raise SchemaError(f"cannot open the database: {redact(str(e.orig))}") from None
    script = ScriptDirectory(str(MIGRATIONS))
    head = head_revision()
    if current == head:
        return "current"
    if current is None:
        if tables - {"alembic_version"}:
            raise SchemaError(
                "the database holds tables but no budgetpilot schema version; refusing to "
                f"write into it (tables: {', '.join(sorted(tables)[:5])}...)"
            )
        if not upgrade:
            raise SchemaError("the database is empty: run `budgetpilot init-db` first")
        command.upgrade(alembic_config(engine), "head")
        return "created"
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"the database is at schema version {current}, which this version of budgetpilot "
            f"does not know (newer release?); expected {head}. Upgrade budgetpilot instead."
        )
    if not upgrade:
        raise SchemaError(
            f"the database is at an older schema ({current}); run `budgetpilot init-db` to upgrade"
        )
    log.warning("upgrading the database schema from %s to %s", current, head)
    command.upgrade(alembic_config(engine), "head")
    return "upgraded"


_REVISION = re.compile(r"^(down_)?revision\b[^=]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def _at_listed_head(engine: Engine) -> bool:
    """True when the database is at the one head the migration files name: every command
    checks the schema, and alembic's import and its reading of every migration cost about
    half a second of each start. Anything else (no version table, branches, a file this
    reading does not understand) goes the full way through alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    files = sorted((MIGRATIONS / "versions").glob("[0-9]*.py"))
    for path in files:
        found = {m.group(1) or "": _QUOTED.findall(m.group(2))
                 for m in _REVISION.finditer(path.read_text(encoding="utf-8"))}
        if len(found.get("", [])) != 1 or "down_" not in found:
            return False
        revisions.update(found[""])
        parents.update(found["down_"])
    heads = revisions - parents
    if len(revisions) != len(files) or len(heads) != 1:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # no table yet, a lock: the full check says which
        return False
    return [r[0] for r in rows] == list(heads)


def open_engine(url: str, *, echo: bool = False, upgrade: bool = True,
                connections: int | None = None) -> Engine:
    engine = create_db_engine(url, echo=echo, connections=connections)
    ensure_schema(engine, upgrade=upgrade)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit once at the end, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for bulk statements (SQLModel sets ``__table__`` without
    declaring it to type checkers)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def among(column: Any, ids: Iterable[int | None]) -> Any:
    """``column IN (ids)`` with the integers written into the statement when it runs.

    An agency's portfolio has more campaigns than a statement may have parameters
    (PostgreSQL's driver takes 65,535, SQLite 32,766), so a list of ids bound one parameter
    each fails there; integers written as literals have no such limit and cannot inject.
    """
    values = sorted({int(v) for v in ids if v is not None})  # a row not yet flushed has none
    return column.in_(bindparam(None, values, expanding=True, literal_execute=True))


def driver_rows(session: Session, statement: Any, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """A Core select's rows as the driver returns them, ``size`` tuples at a time, in the
    session's transaction: no ORM or Core row objects, which at a million rows cost seconds.

    The statement's values are written into its SQL, so it must hold only values of ours
    (ids, dates), never a user's text. On PostgreSQL a server-side cursor streams the rows.
    """
    if session.autoflush:
        session.flush()  # as a query through the session would
    connection = session.connection()
    sql = str(statement.compile(dialect=connection.dialect,
                                compile_kwargs={"literal_binds": True}))
    raw: Any = connection.connection.dbapi_connection
    named = connection.dialect.name == "postgresql"
    cursor = raw.cursor(name=f"rows_{uuid.uuid4().hex[:12]}") if named else raw.cursor()
    try:
        cursor.execute(sql)
        while part := cursor.fetchmany(size):
            yield part
    finally:
        cursor.close()
