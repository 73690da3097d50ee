"""A worker asked for more PostgreSQL connections than the server has room for holds what is
left, less a margin, and says so: 8 workers of 32 slots no longer ask 128 of a server's 100
and fail with "too many clients". The room is the server's ``max_connections`` less its
reserved slots, and the role's and the database's own limits, less what is in use."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from campaigns.config import settings_from_dict
from campaigns.db import create_db_engine
from campaigns.jobs import workers
from campaigns.jobs.db_room import MARGIN, Room, capped_pool, read_room
from tests.conftest import PG_URL
from tests.workers.processes import REDIS_URL, queue_config, redis_skip_reason
from tests.workers.processes import workers as worker_processes
from tests.workers.test_sync_workers import sandbox

limits = st.one_of(st.just(-1), st.integers(0, 500))


@given(asked=st.integers(1, 1000), max_connections=st.integers(1, 500),
       reserved=st.integers(0, 20), in_use=st.integers(0, 600), role_limit=limits,
       role_in_use=st.integers(0, 600), database_limit=limits,
       database_in_use=st.integers(0, 600))
def test_a_capped_pool_never_passes_the_room_nor_the_ask_and_keeps_one_connection(
    asked: int, max_connections: int, reserved: int, in_use: int, role_limit: int,
    role_in_use: int, database_limit: int, database_in_use: int,
) -> None:
    room = Room(max_connections, reserved, in_use, role_limit, role_in_use, database_limit,
                database_in_use)
    size = capped_pool(asked, room.left)
    assert 1 <= size <= asked
    # within every limit, the margin left to everyone else (unless only one is left)
    for limit, used in ((max_connections - reserved, in_use), (role_limit, role_in_use),
                        (database_limit, database_in_use)):
        if limit >= 0 and size > 1:
            assert used + size + MARGIN <= limit
    if room.left - MARGIN >= asked:
        assert size == asked  # room enough: nothing is taken away


@pytest.fixture
def a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as a worker would be (its module state put back after)."""
    for name, value in (("_slots", None), ("_settings", None), ("_app", None),
                        ("_own_deadlines", False), ("_process", {})):
        monkeypatch.setattr(workers, name, value)


@pytest.fixture
def limited_role() -> Iterator[str]:
    """A login role of its own with CONNECTION LIMIT 13: its URL."""
    role = f"bp_guard_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 13'))
    except Exception as e:  # no server, or not allowed to make roles
        admin.dispose()
        pytest.skip(f"cannot create a role: {e}")
    parts = urlsplit(PG_URL)
    host = parts.netloc.rsplit("@", 1)[-1]
    try:
        yield urlunsplit(parts._replace(netloc=f"{role}@{host}"))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_a_worker_asking_more_than_the_server_has_gets_what_is_left_and_a_warning(
    own_pg_url: str, a_worker: None, caplog: pytest.LogCaptureFixture,
) -> None:
    room = read_room(own_pg_url)
    assert room.max_connections > 0 and room.in_use >= 0
    settings = settings_from_dict({"database": {"url": own_pg_url}, "queue": {
        "broker_url": REDIS_URL, "worker_db_connections": 1000}})
    workers.configure(settings, slots=64, own_deadlines=True)
    with caplog.at_level(logging.WARNING, logger="campaigns.jobs.db_room"):
        engine = workers._engine()
    try:
        size = engine.pool.size()  # type: ignore[attr-defined]
        # what was left then, less the margin (others may have come and gone meanwhile)
        assert 1 <= size <= room.max_connections - room.reserved - MARGIN
        assert size < 1000
        warning = " ".join(r.getMessage() for r in caplog.records
                           if r.levelno == logging.WARNING)
        assert f"capped to {size} (asked 1000" in warning, warning
        assert f"max_connections {room.max_connections}" in warning, warning
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_role_s_own_connection_limit_caps_its_worker_s_pool(
    limited_role: str, a_worker: None, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_from_dict({"database": {"url": limited_role}, "queue": {
        "broker_url": REDIS_URL, "worker_db_connections": 8}})
    workers.configure(settings, slots=16, own_deadlines=True)
    with caplog.at_level(logging.WARNING, logger="campaigns.jobs.db_room"):
        assert workers.db_pool_size() == 13 - MARGIN  # the role's 13, none in use
    assert "role limit 13 (0 in use)" in caplog.text, caplog.text


@pytest.mark.postgres
def test_a_worker_with_room_enough_keeps_what_it_asked_and_says_nothing(
    a_worker: None, caplog: pytest.LogCaptureFixture, own_pg_url: str,
) -> None:
    settings = settings_from_dict({"database": {"url": own_pg_url}, "queue": {
        "broker_url": REDIS_URL, "worker_db_connections": 2}})
    workers.configure(settings, slots=4, own_deadlines=True)
    with caplog.at_level(logging.WARNING, logger="campaigns.jobs.db_room"):
        assert workers.db_pool_size() == 2
    assert "capped" not in caplog.text


_REDIS_SKIP = redis_skip_reason()


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_budgetpilot_worker_says_at_start_that_it_capped_its_pool(
    tmp_path: Path, own_pg_url: str,
) -> None:
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, sandbox(accounts=1))
    cfg.write_text(cfg.read_text() + "worker_db_connections = 1000\n")
    with worker_processes(cfg, own_pg_url, tmp_path, count=1, concurrency=4,
                          pool="threads") as pool:
        logs = pool[0].text()
    assert "database connections of this worker process capped to" in logs, logs
    assert "(asked 1000" in logs and "max_connections" in logs, logs


@contextmanager
def _role_on_schema(own_pg_url: str, limit: int) -> Iterator[tuple[str, Callable[[], int]]]:
    """A login role with CONNECTION LIMIT ``limit`` that reads ``own_pg_url``'s schema: its
    URL, and a count of the connections it holds now."""
    role = f"bp_guard_{uuid.uuid4().hex[:8]}"
    schema = own_pg_url.split("search_path%3D", 1)[1].split("&", 1)[0]
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {limit}'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
    parts = urlsplit(own_pg_url)

    def held() -> int:
        with admin.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity "
                                         "WHERE usename = :r"), {"r": role}).scalar() or 0)

    try:
        yield urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}")), held
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _asking(tmp_path: Path, connections: int) -> Path:
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, sandbox(accounts=1))
    cfg.write_text(cfg.read_text() + f"worker_db_connections = {connections}\n")
    return cfg


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_started_after_another_finds_its_connections_in_use_and_takes_the_rest(
    tmp_path: Path, own_pg_url: str,
) -> None:
    cfg = _asking(tmp_path, 8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with _role_on_schema(own_pg_url, 20) as (url, held), \
            worker_processes(cfg, url, tmp_path / "a", count=1, concurrency=16,
                             pool="threads") as first, \
            worker_processes(cfg, url, tmp_path / "b", count=1, concurrency=16,
                             pool="threads") as second:
        holding = held()
        logs = first[0].text(), second[0].text()
    # The first had room for its 8 and holds them; the second found 12 left, less the margin.
    assert "capped" not in logs[0], logs[0]
    assert "capped to 2 (asked 8" in logs[1] and "role limit 20 (8 in use)" in logs[1], logs[1]
    assert holding == 8 + 2  # within the role's 20, the margin left to everyone else


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_workers_started_at_the_same_moment_take_the_room_in_turn(
    tmp_path: Path, own_pg_url: str,
) -> None:
    """A process manager starts every worker unit at once: each reading the same room of 20
    would take 8 (24 in all, past the role's limit: the last fail to connect)."""
    cfg = _asking(tmp_path, 8)
    with _role_on_schema(own_pg_url, 20) as (url, held), \
            worker_processes(cfg, url, tmp_path, count=3, concurrency=16, pool="threads") as pool:
        holding = held()
        logs = [w.text() for w in pool]
    # One after another: 8, then 2 (12 left less the margin), then 1 (the least a worker
    # holds). The server's own room is shared with whatever else runs on it (the suite's other
    # process): a connection opened there at the second's reading leaves it 1, not 2.
    assert 8 + 1 + 1 <= holding <= 8 + 2 + 1, logs
    capped = sorted(next((n for n in (1, 2) if f"capped to {n} (asked 8" in log), 0)
                    for log in logs)
    assert capped[0] == 0 and capped[1:] in ([1, 2], [1, 1]), logs  # one took all it asked
