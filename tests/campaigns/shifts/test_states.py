"""The lifecycle's table of allowed moves is the one the code obeys, the API publishes and the
README shows.

The state machine drives random sequences of proposals, approvals, rejections, applies
(with platform failures), expiry and rollbacks through the real services on SQLite, while
database triggers log every status the rows are given, however it is written (ORM flush or
conditional UPDATE): each logged move must be an edge of the table.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from sqlmodel import Session, select

from api.app import create_app
from campaigns.admin.auth import Principal, Role
from campaigns.config import settings_from_dict
from campaigns.db import create_db_engine, session_scope
from campaigns.models import BudgetShift, Campaign, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.states import (
    INITIAL_ITEM,
    INITIAL_SHIFT,
    ITEM_ALLOWED,
    SHIFT_ALLOWED,
    ItemStatus,
    ShiftStatus,
    final_status,
    lifecycle_table,
)
from connectors.base import ConnectorError
from tests.api.conftest import SETTINGS
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.test_apply_once import applier_for
from tests.campaigns.shifts.logged_machine import LoggedShifts

README = Path(__file__).resolve().parents[3] / "README.md"
BOSS = Principal("boss", Role.admin)
OTHER = Principal("other", Role.manager)
POLICY = ShiftPolicy(auto_approve_max_change=1)
FAILURES = st.sampled_from(["invalid", "auth", "throttled", "transient"])


class Lifecycle(LoggedShifts):
    def populate(self, db: Session) -> None:
        account = create_account(db, external_id="act_1")
        for i in range(3):
            create_campaign(db, account=account, daily_budget="100", external_id=f"c{i}")
            self.platform.budgets[f"c{i}"] = Decimal(100)

    @rule(raises=st.lists(st.integers(-20, 20), min_size=3, max_size=3))
    def propose(self, raises: list[int]) -> None:
        with session_scope(self.engine) as db:
            camps = list(db.scalars(select(Campaign).order_by(Campaign.id)))
            create_shift(db, campaigns=camps, created_by="nightly",
                         new_budgets=[str((c.daily_budget or 0) + r)
                                      for c, r in zip(camps, raises, strict=True)],
                         expires_at=self.now + dt.timedelta(hours=24))

    @rule(pick=st.integers(0, 9), some=st.lists(st.integers(0, 2), max_size=3),
          stale=st.booleans())
    def approve(self, pick: int, some: list[int], stale: bool) -> None:
        shift = self._shift(pick)
        if shift is None:
            return
        with Session(self.engine) as db:
            view = shifts.get_shift(db, shift.id or 0)
        ids = [view.items[i].id for i in some if i < len(view.items)] or None
        self._try(lambda db: shifts.approve(
            db, shift.id, version=shift.version - stale, user=OTHER, policy=POLICY,
            item_ids=ids, now=self.now))  # type: ignore[arg-type]

    @rule(pick=st.integers(0, 9))
    def reject(self, pick: int) -> None:
        shift = self._shift(pick)
        if shift is not None:
            self._try(lambda db: shifts.reject(db, shift.id, version=shift.version, user=OTHER,
                                               comment="no", now=self.now))  # type: ignore[arg-type]

    @rule(pick=st.integers(0, 9), failing=st.dictionaries(st.sampled_from(["c0", "c1", "c2"]),
                                                         FAILURES, max_size=3),
          due_only=st.booleans(), dry_run=st.booleans())
    def apply(self, pick: int, failing: dict[str, str], due_only: bool, dry_run: bool) -> None:
        shift = self._shift(pick)
        if shift is None:
            return
        self.platform.fail = {t: ConnectorError(f"{kind} failure", kind=kind)  # type: ignore[arg-type]
                              for t, kind in failing.items()}
        self._try(lambda db: shifts.apply(
            db, shift.id, version=shift.version, user=BOSS, now=self.now, dry_run=dry_run,
            applier=applier_for(self.platform), due_only=due_only))  # type: ignore[arg-type]
        self.platform.fail = {}

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self.now += dt.timedelta(hours=hours)
        with session_scope(self.engine) as db:
            shifts.expire_overdue(db, now=self.now)

    @rule(pick=st.integers(0, 9))
    def roll_back(self, pick: int) -> None:
        shift = self._shift(pick)
        if shift is not None:
            self._try(lambda db: shifts.rollback(db, shift.id, user=BOSS, policy=POLICY,
                                                 now=self.now))  # type: ignore[arg-type]

    @invariant()
    def every_move_is_in_the_table(self) -> None:
        for kind, _, old, new in self.new_moves():
            if old is None:
                assert new == (INITIAL_SHIFT if kind == "shift" else INITIAL_ITEM), (kind, new)

    @invariant()
    def settled_shifts_match_their_items(self) -> None:
        with Session(self.engine) as db:
            for shift in db.scalars(select(BudgetShift)):
                items = list(db.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift.id)))
                if shift.status in (ShiftStatus.APPLIED, ShiftStatus.PARTIALLY_APPLIED):
                    assert final_status(items) == shift.status, shift.id


def test_any_sequence_of_operations_moves_only_along_the_table(
        sqlite_template: Path) -> None:
    Lifecycle.template = sqlite_template
    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


def test_every_status_has_a_row_and_moves_stay_inside_the_enum() -> None:
    assert set(SHIFT_ALLOWED) == set(ShiftStatus)
    assert set(ITEM_ALLOWED) == set(ItemStatus)
    assert BudgetShift().status == INITIAL_SHIFT and ShiftItem().status == INITIAL_ITEM
    # every status is reachable from the initial one
    for table, start in ((SHIFT_ALLOWED, INITIAL_SHIFT), (ITEM_ALLOWED, INITIAL_ITEM)):
        reached, todo = {start}, [start]
        while todo:
            for nxt in table[todo.pop()] - reached:  # type: ignore[index]
                reached.add(nxt)
                todo.append(nxt)
        assert reached == set(table)


def test_readme_lifecycle_is_the_table_in_code() -> None:
    found = re.search(r"<!-- lifecycle:start -->\n(.*?)<!-- lifecycle:end -->",
                      README.read_text(), re.S)
    assert found is not None, "README has no generated lifecycle section"
    assert found.group(1) == lifecycle_table(), (
        "README lifecycle is out of date: paste `python -m campaigns.shifts.states`")


def test_openapi_lists_the_statuses(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    schema = create_app(settings_from_dict(SETTINGS), engine).openapi()
    engine.dispose()
    parts = schema["components"]["schemas"]
    shift_values = [s.value for s in ShiftStatus]
    assert parts["ShiftStatus"]["enum"] == shift_values
    assert parts["ItemStatus"]["enum"] == [s.value for s in ItemStatus]
    assert parts["ShiftPublic"]["properties"]["status"] == {
        "$ref": "#/components/schemas/ShiftStatus"}
    assert parts["ShiftItemPublic"]["properties"]["status"] == {
        "$ref": "#/components/schemas/ItemStatus"}
    query = next(p for p in schema["paths"]["/api/v1/shifts"]["get"]["parameters"]
                 if p["name"] == "status")
    refs = [s.get("$ref") for s in query["schema"].get("anyOf", [query["schema"]])]
    assert "#/components/schemas/ShiftStatus" in refs
