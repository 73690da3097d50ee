"""Exported items settle once, however exports, imports, confirmations, applies and
rollbacks interleave.

A state machine on SQLite drives a portfolio with two TikTok campaigns (an imported account:
no write connector) and one Meta campaign (written by its connector) through the real
services. Triggers log every status a row is given; the invariants: every move is an edge
of the table, no item is settled (applied by an import, or confirmed) twice, a settled
item holds the budget the shift wanted, nothing of TikTok is ever written to a platform,
and a settled shift's status is the one its items give.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import Session, select

from campaigns.admin.auth import Principal, Role
from campaigns.db import session_scope
from campaigns.ingest.store import set_names_and_budgets
from campaigns.models import AuditEvent, BudgetShift, Campaign, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts.delivery import Delivery
from campaigns.shifts.exporting import export
from campaigns.shifts.settling import confirm, settle_observed
from campaigns.shifts.states import (
    ItemStatus,
    ShiftStatus,
    final_status,
)
from connectors.base import ConnectorError
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.test_apply_once import applier_for
from tests.campaigns.shifts.logged_machine import LoggedShifts

BOSS = Principal("boss", Role.admin)
OTHER = Principal("other", Role.manager)
POLICY = ShiftPolicy(auto_approve_max_change=1)
DELIVERY = Delivery(frozenset({"csv"}))
SETTLES = ("shift_item.applied", "shift_item.confirmed")


class ByFile(LoggedShifts):
    def populate(self, db: Session) -> None:
        self.platform.budgets["m0"] = Decimal(100)
        tiktok = create_account(db, network="tiktok", external_id="adv_1")
        tiktok.source = "csv"
        db.add(tiktok)
        for i in range(2):
            create_campaign(db, account=tiktok, daily_budget="100", external_id=f"t{i}")
        create_campaign(db, account=create_account(db, external_id="act_1"),
                        daily_budget="100", external_id="m0")

    @initialize(raises=st.lists(st.integers(-20, 20).filter(bool), min_size=3, max_size=3),
                some=st.lists(st.integers(0, 2), max_size=3))
    def an_approved_shift(self, raises: list[int], some: list[int]) -> None:
        """Every run starts with an approved shift (all its items, or some)."""
        self.propose(raises)
        self.approve(0, some)

    @rule(raises=st.lists(st.integers(-20, 20).filter(bool), min_size=3, max_size=3))
    def propose(self, raises: list[int]) -> None:
        with session_scope(self.engine) as db:
            camps = list(db.scalars(select(Campaign).order_by(Campaign.id)))
            create_shift(db, campaigns=camps, created_by="nightly",
                         new_budgets=[str((c.daily_budget or 0) + r + Decimal("0.5"))
                                      for c, r in zip(camps, raises, strict=True)],
                         expires_at=self.now + dt.timedelta(hours=24))

    @rule(pick=st.integers(0, 9), some=st.lists(st.integers(0, 2), max_size=3))
    def approve(self, pick: int, some: list[int]) -> None:
        shift = self._shift(pick)
        if shift is None:
            return
        with Session(self.engine) as db:
            view = shifts.get_shift(db, shift.id or 0)
        ids = [view.items[i].id for i in some if i < len(view.items)] or None
        self._try(lambda db: shifts.approve(db, shift.id, version=shift.version, user=OTHER,
                                            policy=POLICY, item_ids=ids, now=self.now))  # type: ignore[arg-type]

    @rule(pick=st.integers(0, 9), fail=st.booleans())
    def apply(self, pick: int, fail: bool) -> None:
        shift = self._shift(pick)
        if shift is None:
            return
        self.platform.fail = {"m0": ConnectorError("down", kind="transient")} if fail else {}
        self._try(lambda db: shifts.apply(db, shift.id, version=shift.version, user=BOSS,
                                          now=self.now, applier=applier_for(self.platform),
                                          delivery=DELIVERY))  # type: ignore[arg-type]
        self.platform.fail = {}

    @rule(pick=st.integers(0, 9))
    def export(self, pick: int) -> None:
        shift = self._shift(pick)
        if shift is not None:
            self._try(lambda db: export(db, shift.id, user=BOSS, delivery=DELIVERY,  # type: ignore[arg-type]
                                        now=self.now))

    @rule(pick=st.integers(0, 9), which=st.integers(0, 2), shows=st.sampled_from(
        ["new", "old", "other"]))
    def an_import_shows(self, pick: int, which: int, shows: str) -> None:
        """An import stores a budget for an exported item's campaign (the wanted one, the old
        one, or another), then settles what it shows."""
        with session_scope(self.engine) as db:
            items = list(db.scalars(select(ShiftItem).where(ShiftItem.exported_at.is_not(None))  # type: ignore[union-attr]
                                    .order_by(ShiftItem.id)))
            if not items:
                return
            item = items[pick % len(items)]
            budget = {"new": item.new_budget, "old": item.old_budget,
                      "other": item.new_budget + which + 1}[shows]
            set_names_and_budgets(db, {item.campaign_id: (f"c{which}", budget)})
            settle_observed(db, now=self.now)

    @rule(pick=st.integers(0, 9), some=st.lists(st.integers(0, 2), max_size=3),
          everything=st.booleans())
    def confirm(self, pick: int, some: list[int], everything: bool) -> None:
        shift = self._shift(pick)
        if shift is None:
            return
        with Session(self.engine) as db:
            view = shifts.get_shift(db, shift.id or 0)
        ids = None if everything else [view.items[i].id or 0 for i in some
                                       if i < len(view.items)]
        self._try(lambda db: confirm(db, shift.id, user=OTHER, item_ids=ids, now=self.now))  # type: ignore[arg-type]

    @rule(pick=st.integers(0, 9))
    def roll_back(self, pick: int) -> None:
        shift = self._shift(pick)
        if shift is not None:
            self._try(lambda db: shifts.rollback(db, shift.id, user=BOSS, policy=POLICY,  # type: ignore[arg-type]
                                                 now=self.now))

    @invariant()
    def every_move_is_in_the_table(self) -> None:
        self.new_moves()

    @invariant()
    def nothing_is_settled_twice(self) -> None:
        with Session(self.engine) as db:
            settles = Counter(e.entity_id for e in db.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(SETTLES))))  # type: ignore[attr-defined]
            for item in db.scalars(select(ShiftItem).where(ShiftItem.exported_at.is_not(None))):  # type: ignore[union-attr]
                settled = item.status in (ItemStatus.APPLIED, ItemStatus.CONFIRMED)
                assert settles[str(item.id)] == int(settled), (item.id, item.status)
                if settled:
                    assert item.applied_budget == item.new_budget, item.id

    @invariant()
    def tiktok_is_never_written_to_a_platform(self) -> None:
        assert set(self.platform.writes) <= {"m0"}
        assert set(self.platform.reads) <= {"m0"}

    @invariant()
    def settled_shifts_match_their_items(self) -> None:
        with Session(self.engine) as db:
            for shift in db.scalars(select(BudgetShift)):
                items = list(db.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift.id)))
                if shift.status in (ShiftStatus.APPLIED, ShiftStatus.EXPORTED,
                                    ShiftStatus.PARTIALLY_APPLIED):
                    assert final_status(items) == shift.status, shift.id


def test_no_sequence_settles_an_item_twice(sqlite_template: Path) -> None:
    ByFile.template = sqlite_template
    run_state_machine_as_test(ByFile, settings=settings(
        max_examples=25, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
