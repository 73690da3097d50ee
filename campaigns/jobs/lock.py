"""One holder at a time for a named job, across threads, processes and API workers.

PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection held for the job (the
server releases it if the process dies). SQLite: an exclusive ``flock`` on a file beside the
database (the kernel releases it if the process dies). Either way a second caller does not
wait: it is told the job is busy and skips.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks take a bigint)."""
    digest = hashlib.sha256(f"budgetpilot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(engine: Engine, name: str) -> Path:
    """The lock file for ``name`` on a SQLite database: beside the database file."""
    database = engine.url.database
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    if database and database != ":memory:":
        return Path(f"{database}.{safe}.lock")
    tag = hashlib.sha256(str(engine.url).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"budgetpilot-{tag}.{safe}.lock"


@contextmanager
def try_lock(engine: Engine, name: str) -> Iterator[bool]:
    """``with try_lock(engine, "nightly:default") as held:`` — run the job only if held."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name) as held:
            yield held
    else:
        with _file_lock(lock_path(engine, name)) as held:
            yield held


@contextmanager
def _advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    with engine.connect() as conn:
        # Advisory locks are per database; the schema keeps apart several schemas of one
        # database (test runs sharing a server).
        key = lock_key(f"{conn.execute(text('SELECT current_schema()')).scalar()}:{name}")
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # session-level lock: it outlives the transaction that took it
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
