"""The application factory uvicorn imports in each worker (``budgetpilot serve --workers N``).

Settings come from ``$BUDGETPILOT_CONFIG`` (``serve --config`` sets it) and the environment,
validated once per worker at start-up; each worker opens its own engine and, when
``[scheduler] enabled = true``, its own scheduler (the job lock keeps runs single).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.app import create_app
from campaigns.config import load_settings
from campaigns.db import open_engine


def build() -> FastAPI:
    settings = load_settings()
    engine = open_engine(settings.database_url, echo=settings.database.echo, upgrade=False)
    return create_app(settings, engine, scheduler=True, shared_cache=shared_cache_dir(engine))


def shared_cache_dir(engine: Engine) -> Path:
    """One folder per database, private to the user running the service."""
    tag = hashlib.sha256(engine.url.render_as_string(hide_password=True).encode()).hexdigest()
    return Path(tempfile.gettempdir()) / f"budgetpilot-{os.getuid()}-{tag[:16]}" / "responses"
