"""The application factory uvicorn imports in each worker (``budgetpilot serve --workers N``).

Settings come from ``$BUDGETPILOT_CONFIG`` (``serve --config`` sets it) and the environment,
validated once per worker at start-up; each worker opens its own engine and, when
``[scheduler] enabled = true``, its own scheduler (the job lock keeps runs single).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.app import create_app
from api.caching import private_cache_dir
from campaigns.config import load_settings
from campaigns.db import open_engine
from campaigns.jobs.nightly_sources import engine_connections
from connectors.redact import install_log_redaction, remember_settings_secrets


def build() -> FastAPI:
    install_log_redaction()  # uvicorn's handlers and ours: no record shows a secret
    settings = load_settings()
    remember_settings_secrets(settings)
    engine = open_engine(settings.database_url, echo=settings.database.echo, upgrade=False,
                         connections=engine_connections(settings))  # the scheduler's nightly
    return create_app(settings, engine, scheduler=True, shared_cache=shared_cache_dir(engine))


def shared_cache_dir(engine: Engine) -> Path | None:
    """One folder per database, private to the user running the service (None: none safe)."""
    return private_cache_dir(engine)
