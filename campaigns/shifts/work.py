"""What the write-back's steps share: the claimed item on its way to the platform, and where
the steps run (their own sessions on an engine, or the caller's session)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.shifts.report import ApplyReport
from campaigns.shifts.retry import RetryPolicy
from connectors.base import BudgetTarget

# (account id, level, target id): one budget on the platform
BudgetKey = tuple[int, str, str]
Settled = dict[BudgetKey, tuple[int, Decimal]]  # budget -> (item that set it, its value)
CHUNK = 500  # item ids per statement


@dataclass
class Work:
    """One claimed item on its way to the platform."""

    item_id: int
    key: BudgetKey
    target: BudgetTarget
    new_budget: Decimal
    prior: str  # the status to go back to when released unattempted
    current: Decimal | None = None  # what the platform holds, once read
    old_budget: Decimal | None = None  # what the proposal was built on (None: not checked)

    @property
    def label(self) -> str:
        return f"{self.target.level}:{self.target.external_id}"


@dataclass
class Run:
    """One write-back run of a shift: what each of its steps needs to know."""

    shift_id: int
    claim: str  # this run's claim token on the items it wins
    actor: str
    now: dt.datetime
    policy: RetryPolicy
    report: ApplyReport
    dry_run: bool = False
    due_only: bool = False
    settled: Settled = field(default_factory=dict)  # budgets applied items already set


@dataclass(frozen=True)
class Steps:
    """Where each step of a write-back runs.

    :meth:`on_engine`: each step has its own session, committed (or rolled back) and closed.
    :meth:`on_session`: each step uses the caller's session and commits it, so the caller's
    pending changes (the shift's move to ``applying``) are committed with the first claim;
    when nothing is claimed nothing is committed.
    """

    engine: Engine | None = None
    session: Session | None = None

    @classmethod
    def on_engine(cls, engine: Engine) -> Steps:
        return cls(engine=engine)

    @classmethod
    def on_session(cls, session: Session) -> Steps:
        return cls(session=session)

    @contextmanager
    def open(self) -> Iterator[tuple[Session, bool]]:
        """A session and whether this step owns it (the caller commits)."""
        if self.session is not None:
            yield self.session, False
            return
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session, True
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read that commits nothing (a caller's pending changes stay pending)."""
        with self.open() as (session, _):
            yield session

    @contextmanager
    def unit(self, *, skip: bool = False) -> Iterator[Session]:
        """One committed step (``skip``: a dry run, committing nothing)."""
        with self.open() as (session, _):
            try:
                yield session
                if not skip:
                    session.commit()
            except BaseException:
                session.rollback()
                raise
