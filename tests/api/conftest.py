"""API fixtures: the app on a fresh database (SQLite, and PostgreSQL when reachable), a client,
and a token per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from campaigns.admin.auth import Role, create_token
from campaigns.config import settings_from_dict

SETTINGS = {
    "service": {"auto_approve_max_change": 0.1, "shift_ttl_hours": 24},
    "pacing": {"over_threshold": 0.1, "under_threshold": 0.1},
    "alerts": {"webhooks": [], "stale_sync_hours": 36, "approval_wait_hours": 12},
}


@pytest.fixture
def app(engine: Engine) -> FastAPI:
    return create_app(settings_from_dict(SETTINGS), engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session for arranging data; commit what the app should see."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    """One live token per role, named after the role."""
    out = {}
    with Session(engine) as s:
        for role in Role:
            _, secret = create_token(s, name=role.value, role=role.value, actor="test")
            out[role.value] = secret
        s.commit()
    return out


@pytest.fixture
def as_role(tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    return lambda role: {"Authorization": f"Bearer {tokens[role]}"}
