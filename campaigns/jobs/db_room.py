"""A worker's database pool kept within the PostgreSQL server's room for connections.

``[queue] worker_db_connections`` defaults to half a process's task slots: 8 workers of 32
slots ask 128 connections of a server whose ``max_connections`` is 100, and the last tasks
to connect fail with "too many clients". At start a worker reads the room once (one short
query on one connection, nothing locked: it only reads) and caps its pool to what is left
under the server's, its role's and its database's limits, less :data:`MARGIN` for everyone
else (``psql``, the API, the submitter, a migration), and says so. The room is read as it is
then: a worker of ``--pool threads`` opens its pool in full at start
(:func:`campaigns.jobs.workers.open_db_pool`), and reads the room and opens its pool
:func:`one_at_a_time` (a server-wide advisory lock held for those few milliseconds), so
workers started together (a process manager starting every unit at boot) each find the
others' connections in use instead of all reading the same room. Prefork children open
theirs as their tasks need them, and each reads the room as it finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from campaigns.db import normalise_url
from campaigns.jobs.lock import lock_key
from connectors.redact import redact

log = logging.getLogger(__name__)
# Connections left to everyone else when a worker's pool is capped.
MARGIN = 10
# One worker at a time reads the room and opens its pool: the room is the server's, so the
# key is too (not a schema's, as a job's lock is).
ROOM_KEY = lock_key("worker-db-room")
# A worker waits this long for another's start at most, then reads the room as it is.
ROOM_WAIT_MS = 30_000

# The lock connections of workers starting (this one's, those waiting their turn, the one
# before, whose session is still ending) close within milliseconds: not counted in use, or a
# worker starting beside others would leave their lock connections' room unused for good.
ROOM_APP = "budgetpilot-room"
# Client connections only: background workers (autovacuum, WAL sender...) have slots of
# their own. reserved_connections is PostgreSQL 16's (NULL before it: missing_ok).
_ROOM = text(f"""
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
         AND application_name <> '{ROOM_APP}'),
       coalesce((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1),
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND usename = current_user
           AND application_name <> '{ROOM_APP}'),
       coalesce((SELECT datconnlimit FROM pg_database WHERE datname = current_database()), -1),
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND datname = current_database()
           AND application_name <> '{ROOM_APP}')
""")


@dataclass(frozen=True)
class Room:
    """The server's connection limits and what is in use under each (-1: no limit)."""

    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections)
    in_use: int
    role_limit: int = -1  # pg_roles.rolconnlimit
    role_in_use: int = 0
    database_limit: int = -1  # pg_database.datconnlimit
    database_in_use: int = 0

    @property
    def left(self) -> int:
        """Connections that may still be opened: the least left under any limit."""
        left = self.max_connections - self.reserved - self.in_use
        if self.role_limit >= 0:
            left = min(left, self.role_limit - self.role_in_use)
        if self.database_limit >= 0:
            left = min(left, self.database_limit - self.database_in_use)
        return left

    def describe(self) -> str:
        parts = [f"max_connections {self.max_connections}, {self.reserved} reserved, "
                 f"{self.in_use} in use"]
        if self.role_limit >= 0:
            parts.append(f"role limit {self.role_limit} ({self.role_in_use} in use)")
        if self.database_limit >= 0:
            parts.append(f"database limit {self.database_limit} "
                         f"({self.database_in_use} in use)")
        return "; ".join(parts)


def capped_pool(asked: int, left: int, margin: int = MARGIN) -> int:
    """The pool a worker may hold: ``asked``, or what is ``left`` less ``margin`` when that is
    fewer, and 1 at least (a worker with no connection runs no task; one waits its turn)."""
    return max(1, min(asked, left - margin))


@contextmanager
def one_at_a_time(url: str) -> Iterator[Connection | None]:
    """Held while a worker reads the room and opens its pool, so no two do it at once: the
    connection holding the lock (the room is read on it), or None when the lock could not be
    had in time or the server not reached (the worker starts all the same)."""
    # Named from the connection's start: a worker reading the room while this one has only
    # just connected must not count it either.
    engine = create_engine(normalise_url(url), poolclass=NullPool,
                           connect_args={"application_name": ROOM_APP})
    try:
        try:
            conn = engine.connect()
            conn.execute(text(f"SET lock_timeout = {ROOM_WAIT_MS}"))
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ROOM_KEY})
            conn.commit()  # session-level lock: it outlives the transaction that took it
        except Exception as e:  # a long start elsewhere, permissions: read the room as it is
            log.warning("starting without waiting for other workers' starts (%s)",
                        redact((str(e) or type(e).__name__).splitlines()[0]))
            yield None
            return
        try:
            yield conn
        finally:
            conn.close()  # the session ends: its lock with it
    finally:
        engine.dispose()


def read_room(url: str, conn: Connection | None = None) -> Room:
    """The room on ``url``'s server now, read on ``conn`` (:func:`one_at_a_time`'s, which
    closes once the pool is open) or on one connection of its own (closed after)."""
    if conn is not None:
        row = conn.execute(_ROOM).one()
        conn.commit()
    else:
        engine = create_engine(normalise_url(url), poolclass=NullPool)
        try:
            with engine.connect() as own:
                row = own.execute(_ROOM).one()
        finally:
            engine.dispose()
    # The reading's own connection is closed once the pool is open: a lock connection is
    # not counted (``ROOM_APP``), a connection of its own is.
    mine = 0 if conn is not None else 1
    return Room(max_connections=int(row[0]), reserved=int(row[1]),
                in_use=int(row[2]) - mine, role_limit=int(row[3]),
                role_in_use=int(row[4]) - mine, database_limit=int(row[5]),
                database_in_use=int(row[6]) - mine)


def pool_within_room(url: str, asked: int, conn: Connection | None = None) -> int:
    """``asked`` connections, capped to the server's room (PostgreSQL; a warning when it
    caps; read on ``conn`` when given). A room that cannot be read leaves ``asked`` as it
    is: the limit stays the server's to enforce."""
    try:
        room = read_room(url, conn)
    except Exception as e:  # permissions, a server not up yet: start all the same
        log.warning("could not read PostgreSQL's room for connections (%s); holding up to "
                    "%d as asked", redact((str(e) or type(e).__name__).splitlines()[0]), asked)
        return asked
    size = capped_pool(asked, room.left)
    if size < asked:
        log.warning("database connections of this worker process capped to %d (asked %d, "
                    "[queue] worker_db_connections or half the task slots): %d left on the "
                    "server (%s), less a margin of %d for everyone else", size, asked,
                    room.left, room.describe(), MARGIN)
    return size
