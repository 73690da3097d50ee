"""The base of the shift state machines: a fresh SQLite copy per run whose triggers log every
status a shift or item row is given, however it is written (ORM flush or conditional UPDATE),
and the helpers both machines share."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis.stateful import RuleBasedStateMachine
from sqlalchemy import text
from sqlmodel import Session, select

from campaigns.db import create_db_engine, session_scope
from campaigns.errors import BudgetPilotError
from campaigns.models import BudgetShift
from campaigns.shifts.states import ITEM_ALLOWED, SHIFT_ALLOWED, ItemStatus, ShiftStatus
from tests.api.fake_platform import FakePlatform

TRIGGERS = [
    "CREATE TABLE status_log (kind TEXT, row_id INTEGER, old TEXT, new TEXT)",
    *(f"CREATE TRIGGER {table}_{when} AFTER {event} ON {table} BEGIN "
      f"INSERT INTO status_log VALUES ('{kind}', NEW.id, {old}, NEW.status); END"
      for table, kind in (("budgetshift", "shift"), ("shiftitem", "item"))
      for when, event, old in (("new", "INSERT", "NULL"), ("moved", "UPDATE OF status",
                                                           "OLD.status"))),
]


class LoggedShifts(RuleBasedStateMachine):
    """Subclasses set ``template`` (a migrated SQLite file) and fill ``populate``."""

    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        path = Path(self.dir) / "db.sqlite"
        shutil.copy(self.template, path)
        self.engine = create_db_engine(f"sqlite:///{path}")
        with self.engine.begin() as conn:
            for statement in TRIGGERS:
                conn.execute(text(statement))
        self.now = dt.datetime.now(dt.UTC)
        self.platform = FakePlatform()
        with session_scope(self.engine) as db:
            self.populate(db)
        self.seen = 0

    def populate(self, db: Session) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _shift(self, pick: int) -> BudgetShift | None:
        with Session(self.engine) as db:
            ids = list(db.scalars(select(BudgetShift.id).order_by(BudgetShift.id)))
            return db.get(BudgetShift, ids[pick % len(ids)]) if ids else None

    def _try(self, operation: Any) -> None:
        try:
            with session_scope(self.engine) as db:
                operation(db)
        except BudgetPilotError:
            pass  # a refusal (409, 412, 403, 422) is an answer too; the invariants must hold

    def new_moves(self) -> list[tuple[str, int, str | None, str]]:
        """The status moves logged since the last call, each checked against the table."""
        with self.engine.connect() as conn:
            log = conn.execute(text("SELECT kind, row_id, old, new FROM status_log")).all()
        fresh = [tuple(row) for row in log[self.seen:]]
        self.seen = len(log)
        for kind, row_id, old, new in fresh:
            if old is not None:
                table: Any = SHIFT_ALLOWED if kind == "shift" else ITEM_ALLOWED
                status = ShiftStatus if kind == "shift" else ItemStatus
                assert status(new) in table[status(old)], f"{kind} {row_id}: {old} -> {new}"
        return fresh  # type: ignore[return-value]
