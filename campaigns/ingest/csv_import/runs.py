"""The sync-run record a CSV import leaves behind: one row per file, succeeded or failed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.columns import utcnow
from campaigns.errors import ImportRejected
from campaigns.models import SyncRun


def record_success(
    session: Session, path: Path, rows: int, window: tuple[dt.date | None, dt.date | None],
    started: Any,
) -> None:
    """Add the succeeded run to ``session``; the caller commits it with the rows."""
    session.add(
        SyncRun(
            source=f"csv:{path.name}",
            stream="csv",
            rows=rows,
            status="succeeded",
            window_start=window[0],
            window_end=window[1],
            started_at=started,
            finished_at=utcnow(),
        )
    )


def record_rejection(engine: Engine, path: Path, rejected: ImportRejected, started: Any) -> None:
    """Record the failed run in its own session: the import's own was rolled back."""
    with Session(engine) as session:
        session.add(
            SyncRun(
                source=f"csv:{path.name}",
                stream="csv",
                status="failed",
                started_at=started,
                finished_at=utcnow(),
                error=rejected.message[:4000],
            )
        )
        session.commit()
