"""Where a nightly run is while it runs: its step and how many of its accounts are synced or
failed so far, one :class:`~campaigns.models.NightlyProgress` row per run key.

The run's submitter opens the row under the portfolio's job lock; the steps (in this
process, or the tasks of the run's workflow on the workers) move it on; the run's end closes
it with one conditional update, so of a finishing task and a submitter giving up only one
closes it (and writes the run's ``nightly.finish``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.db import session_scope
from campaigns.models import NightlyProgress


def begin(engine: Engine, key: str, portfolio: str, *, holder: str, on_workers: bool) -> None:
    """A fresh row for the run ``key``. Called under the portfolio's lock, so a row of this
    portfolio still open belongs to a run whose process died: it is closed as abandoned."""
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(update(NightlyProgress).where(
            col(NightlyProgress.portfolio) == portfolio,
            col(NightlyProgress.finished_at).is_(None),
        ).values(finished_at=now, step="abandoned", updated_at=now))
        session.execute(delete(NightlyProgress).where(col(NightlyProgress.key) == key))
        session.add(NightlyProgress(key=key, portfolio=portfolio, holder=holder[:300],
                                    on_workers=on_workers, started_at=now, updated_at=now))


def _move(engine: Engine, key: str, **values: Any) -> None:
    with session_scope(engine) as session:
        session.execute(update(NightlyProgress).where(
            col(NightlyProgress.key) == key, col(NightlyProgress.finished_at).is_(None),
        ).values(updated_at=utcnow(), **values))


def at_step(engine: Engine, key: str, step: str) -> None:
    _move(engine, key, step=step)


def add_accounts(engine: Engine, key: str, count: int) -> None:
    """``count`` more accounts to sync in this run (each source adds its listing)."""
    _move(engine, key, accounts_total=NightlyProgress.accounts_total + count)


def account_done(engine: Engine, key: str, *, failed: bool) -> None:
    """One account is in: synced, or failed (then it is left out of what the run approves).
    An increment in the database, so every worker counts into the same row."""
    column = NightlyProgress.accounts_failed if failed else NightlyProgress.accounts_synced
    _move(engine, key, **{"accounts_failed" if failed else "accounts_synced": column + 1})


def claim(engine: Engine, key: str, stage: int, *, again: bool = False) -> bool:
    """Take stage ``stage`` of the run's workflow; False when the run is past it (or closed).
    ``again``: a task delivered again after its worker died may take its stage once more,
    as long as the run has not moved past it (e.g. the dead delivery had not proposed yet)."""
    with session_scope(engine) as session:
        won = session.execute(update(NightlyProgress).where(
            col(NightlyProgress.key) == key, col(NightlyProgress.finished_at).is_(None),
            col(NightlyProgress.stage) <= stage if again else col(NightlyProgress.stage) < stage,
        ).values(stage=stage, updated_at=utcnow()))
        return bool(getattr(won, "rowcount", 0))


def close(engine: Engine, key: str, outcome: dict[str, Any], finish: dict[str, Any]) -> bool:
    """Close the run with its report and write its ``nightly.finish`` event (``finish``), in
    one transaction; False, and nothing written, when it was closed already (a task
    delivered again, or its submitter gave up waiting first)."""
    now = utcnow()
    with session_scope(engine) as session:
        won = session.execute(update(NightlyProgress).where(
            col(NightlyProgress.key) == key, col(NightlyProgress.finished_at).is_(None),
        ).values(finished_at=now, updated_at=now, step="finished", outcome=outcome))
        if not getattr(won, "rowcount", 0):
            return False
        from campaigns.jobs.nightly_hard_stop import NIGHTLY  # loads the optimiser: only here

        audit.record(session, actor=NIGHTLY.name, action="nightly.finish",
                     entity_type="nightly_run", entity_id=key, after=finish)
        return True


def read(engine: Engine, key: str) -> NightlyProgress | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(NightlyProgress, key)


def running(session: Session, portfolio: str | None = None) -> list[NightlyProgress]:
    """The runs in progress, newest first."""
    stmt = (select(NightlyProgress).where(col(NightlyProgress.finished_at).is_(None))
            .order_by(col(NightlyProgress.started_at).desc()))
    if portfolio:
        stmt = stmt.where(col(NightlyProgress.portfolio) == portfolio)
    return list(session.exec(stmt))
