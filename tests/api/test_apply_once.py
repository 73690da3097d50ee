"""Applying a shift writes each budget exactly once, however many requests race for it.

Real threads: managers over HTTP and "nightly" callers going straight to the service, all at
once, on SQLite and PostgreSQL, against a platform that counts every write per budget.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.auth import Principal, Role, create_token
from campaigns.errors import ConflictError
from campaigns.models import AuditEvent, BudgetShift, ShiftItem
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts import writeback
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform

HTTP_CALLERS = 12
DIRECT_CALLERS = 12


def applier_for(platform: FakePlatform) -> Callable[..., Any]:
    """The real write-back, with the fake platform as every account's connector."""

    def apply(session: Session, shift: BudgetShift, items: list[ShiftItem], **kw: Any) -> Any:
        assert shift.id is not None
        return writeback.apply_items_in_session(session, shift.id, lambda account: platform,
                                                items=items, **kw)

    return apply


def approved_shift(engine: Engine, platform: FakePlatform, *, accounts: int = 2,
                   per_account: int = 6) -> int:
    """An approved shift moving every campaign from 100 to 110, and the platform at 100."""
    with Session(engine, expire_on_commit=False) as db:
        camps = []
        for a in range(accounts):
            account = create_account(db, external_id=f"act_{a}")
            camps += [create_campaign(db, account=account, daily_budget="100",
                                      external_id=f"a{a}c{i}") for i in range(per_account)]
        shift = create_shift(db, campaigns=camps, new_budgets=["110"] * len(camps))
        db.commit()
        assert shift.id is not None
        shifts.approve(db, shift.id, version=1, user=Principal("boss", Role.admin),
                       policy=ShiftPolicy(auto_approve_max_change=1))
        db.commit()
    platform.budgets.update({c.external_id: Decimal(100) for c in camps})
    return shift.id


def test_concurrent_applies_write_each_budget_once(engine: Engine) -> None:
    from api.app import create_app
    from campaigns.config import settings_from_dict
    from tests.api.conftest import SETTINGS

    platform = FakePlatform(write_seconds=0.02)
    shift_id = approved_shift(engine, platform)
    app: FastAPI = create_app(settings_from_dict(SETTINGS), engine,
                              applier=applier_for(platform))
    with Session(engine) as s:
        secrets = {f"m{i}": create_token(s, name=f"m{i}", role="manager", actor="test")[1]
                   for i in range(HTTP_CALLERS)}
        s.commit()
    answers: dict[str, int] = {}
    barrier = threading.Barrier(HTTP_CALLERS + DIRECT_CALLERS)
    rng = random.Random(8)
    delays = [rng.uniform(0, 0.3) for _ in range(HTTP_CALLERS + DIRECT_CALLERS)]

    def over_http(client: TestClient, name: str, delay: float) -> None:
        headers = {"Authorization": f"Bearer {secrets[name]}"}
        barrier.wait()
        time.sleep(delay)
        version = client.get(f"/api/v1/shifts/{shift_id}", headers=headers).json()["version"]
        r = client.post(f"/api/v1/shifts/{shift_id}/apply", json={"version": version},
                        headers=headers)
        answers[name] = r.status_code

    def direct(name: str, delay: float) -> None:  # as the nightly job calls it
        barrier.wait()
        time.sleep(delay)
        try:
            with Session(engine, expire_on_commit=False) as session:
                version = shifts.get_shift(session, shift_id).shift.version
                try:
                    shifts.apply(session, shift_id, version=version,
                                 user=Principal(name, Role.service),
                                 applier=applier_for(platform))
                    session.commit()
                    answers[name] = 200
                except ConflictError:
                    session.rollback()
                    answers[name] = 409
        except Exception as e:  # a crash is an answer too: it must not happen
            answers[name] = 500
            raise AssertionError(f"{name}: {type(e).__name__}: {e}") from e

    with TestClient(app) as client:
        threads = [threading.Thread(target=over_http, args=(client, f"m{i}", delays[i]))
                   for i in range(HTTP_CALLERS)]
        threads += [threading.Thread(target=direct, args=(f"nightly{i}", delays[-1 - i]))
                    for i in range(DIRECT_CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert len(answers) == HTTP_CALLERS + DIRECT_CALLERS
    assert set(answers.values()) <= {200, 409}, answers
    assert dict(platform.writes) == {key: 1 for key in platform.budgets}  # each budget once
    with Session(engine) as s:
        shift = s.get(BudgetShift, shift_id)
        assert shift is not None and shift.status == "applied"
        items = s.exec(select(ShiftItem).where(ShiftItem.shift_id == shift_id)).all()
        assert {i.status for i in items} == {"applied"} and {i.attempts for i in items} == {1}
        applied = s.exec(select(AuditEvent).where(
            AuditEvent.action == "shift_item.applied")).all()
    assert len(applied) == len(items)
    writers = {e.actor for e in applied if e.after and e.after["changed"]}
    # A request answered 409 wrote nothing.
    assert writers and all(answers[w] == 200 for w in writers), (writers, answers)


def test_a_claim_left_by_a_crash_is_recovered_by_reading_the_platform(engine: Engine) -> None:
    platform = FakePlatform()
    shift_id = approved_shift(engine, platform, accounts=1, per_account=2)
    now = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    with Session(engine, expire_on_commit=False) as s:
        first, second = s.exec(select(ShiftItem).where(ShiftItem.shift_id == shift_id)
                               .order_by(ShiftItem.id)).all()
        # A process claimed the first item, wrote it, and died before recording it.
        first.status, first.claimed_by, first.attempts = "applying", "dead", 1
        first.claimed_at = now - dt.timedelta(minutes=14)
        shift = s.get(BudgetShift, shift_id)
        assert shift is not None
        shift.status, shift.version = "applying", 3
        s.add_all([first, shift])
        s.commit()
    platform.budgets[first.target_external_id] = Decimal(110)
    user = Principal("maria", Role.manager)

    # Within the claim timeout the item is the other process's: 409, and nothing written.
    with Session(engine, expire_on_commit=False) as s:
        shifts.apply(s, shift_id, version=3, user=user, applier=applier_for(platform), now=now)
        s.commit()
    assert platform.writes == {second.target_external_id: 1}
    with Session(engine) as s, pytest.raises(ConflictError, match="another request"):
        shifts.apply(s, shift_id, version=4, user=user, applier=applier_for(platform),
                     now=now)
    later = now + dt.timedelta(minutes=2)
    with Session(engine, expire_on_commit=False) as s:
        view = shifts.apply(s, shift_id, version=4, user=user,
                            applier=applier_for(platform), now=later)
        s.commit()
    assert view.shift.status == "applied"
    assert platform.writes == {second.target_external_id: 1}  # the crashed write not resent
    assert [o.outcome for o in view.report.outcomes] == ["already"]


T0 = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)
NIGHTLY = Principal("nightly", Role.service)


def _items(engine: Engine, shift_id: int) -> dict[str, ShiftItem]:
    with Session(engine) as s:
        rows = s.exec(select(ShiftItem).where(ShiftItem.shift_id == shift_id)).all()
    return {i.target_external_id: i for i in rows}


def _apply(engine: Engine, shift_id: int, platform: FakePlatform, *,
           now: dt.datetime = T0, user: Principal = NIGHTLY, dry_run: bool = False
           ) -> shifts.ShiftView:
    with Session(engine, expire_on_commit=False) as s:
        version = shifts.get_shift(s, shift_id).shift.version
        view = shifts.apply(s, shift_id, version=version, user=user, now=now,
                            applier=applier_for(platform), dry_run=dry_run)
        s.commit()
    return view


def test_one_batch_per_account_and_a_stopped_account_keeps_its_items(engine: Engine) -> None:
    from connectors.base import ConnectorError
    from tests.api.fake_platform import FakeBatchPlatform

    platform = FakeBatchPlatform()
    shift_id = approved_shift(engine, platform, accounts=3, per_account=3)
    platform.budgets["a1c1"] = Decimal(110)  # already holds the new budget
    platform.fail_writes["a1c2"] = ConnectorError("CONCURRENT_MODIFICATION", kind="transient")
    platform.fail["a2c0"] = ConnectorError("the token was revoked", kind="auth")

    view = _apply(engine, shift_id, platform)

    assert platform.batches == [["a0c0", "a0c1", "a0c2"], ["a1c0", "a1c2"]]
    assert dict(platform.writes) == {"a0c0": 1, "a0c1": 1, "a0c2": 1, "a1c0": 1}
    items = _items(engine, shift_id)
    assert {k: i.status for k, i in items.items()} == {
        "a0c0": "applied", "a0c1": "applied", "a0c2": "applied",
        "a1c0": "applied", "a1c1": "applied", "a1c2": "failed",
        "a2c0": "failed", "a2c1": "approved", "a2c2": "approved",
    }
    assert "CONCURRENT_MODIFICATION" in (items["a1c2"].error or "")
    assert writeback.RETRY.next_attempt(1, T0) == T0 + dt.timedelta(minutes=10)
    assert items["a1c2"].next_attempt_at is not None
    assert (items["a2c1"].attempts, items["a2c2"].attempts) == (0, 0)
    assert platform.reads["a2c1"] == 0  # the account stopped at its first auth error
    assert view.shift.status == "partially_applied"


def test_failed_items_back_off_and_give_up_after_the_limit(engine: Engine) -> None:
    from connectors.base import ConnectorError

    platform = FakePlatform()
    shift_id = approved_shift(engine, platform, accounts=1, per_account=2)
    platform.fail_writes["a0c1"] = ConnectorError("internal error", kind="transient")
    assert _apply(engine, shift_id, platform).shift.status == "partially_applied"
    item = _items(engine, shift_id)["a0c1"]
    assert item.attempts == 1
    due = T0 + dt.timedelta(minutes=10)
    assert item.next_attempt_at is not None and _utc(item.next_attempt_at) == due

    # The nightly retry leaves it alone until its backoff has passed, then tries again.
    assert shifts.retry_due(engine, "default", user=NIGHTLY, applier=applier_for(platform),
                            now=due - dt.timedelta(seconds=1)) == []
    waits = []
    for attempt in range(2, 6):
        lines = shifts.retry_due(engine, "default", user=NIGHTLY,
                                 applier=applier_for(platform), now=due)
        assert lines == [f"shift {shift_id} retried: partially_applied"]
        item = _items(engine, shift_id)["a0c1"]
        assert item.attempts == attempt
        if item.next_attempt_at is not None:
            waits.append(_utc(item.next_attempt_at) - due)
            due = _utc(item.next_attempt_at)
    assert waits == [dt.timedelta(minutes=m) for m in (20, 40, 80)]
    assert item.next_attempt_at is None and "gave up after 5 attempts" in (item.error or "")
    assert "a manager must act" in (item.error or "")
    reads = platform.reads["a0c1"]
    assert shifts.retry_due(engine, "default", user=NIGHTLY, applier=applier_for(platform),
                            now=due + dt.timedelta(days=7)) == []
    assert platform.reads["a0c1"] == reads and platform.writes == {"a0c0": 1}

    # Automation has given up; a manager who fixed the cause applies the shift again.
    manager = Principal("maria", Role.manager)
    assert _apply(engine, shift_id, platform, user=manager).shift.status == "partially_applied"
    assert _items(engine, shift_id)["a0c1"].attempts == 6  # tried once more, at once
    del platform.fail_writes["a0c1"]
    assert _apply(engine, shift_id, platform, user=manager).shift.status == "applied"
    assert platform.writes == {"a0c0": 1, "a0c1": 1}


def test_retry_to_success_makes_the_shift_applied(engine: Engine) -> None:
    from connectors.base import ConnectorError

    platform = FakePlatform()
    shift_id = approved_shift(engine, platform, accounts=2, per_account=2)
    platform.fail["a1c0"] = ConnectorError("rate limited", kind="throttled")
    assert _apply(engine, shift_id, platform).shift.status == "partially_applied"
    assert {k: i.status for k, i in _items(engine, shift_id).items()} == {
        "a0c0": "applied", "a0c1": "applied", "a1c0": "failed", "a1c1": "approved"}
    del platform.fail["a1c0"]
    later = T0 + dt.timedelta(hours=1)
    lines = shifts.retry_due(engine, "default", user=NIGHTLY, applier=applier_for(platform),
                             now=later)
    assert lines == [f"shift {shift_id} retried: applied"]
    assert dict(platform.writes) == {"a0c0": 1, "a0c1": 1, "a1c0": 1, "a1c1": 1}


def test_dry_run_writes_nothing_and_the_shift_stays_approved(engine: Engine) -> None:
    platform = FakePlatform()
    shift_id = approved_shift(engine, platform, accounts=1, per_account=3)
    platform.budgets["a0c2"] = Decimal(110)
    view = _apply(engine, shift_id, platform, dry_run=True)
    assert platform.total_writes() == 0 and sum(platform.validations.values()) == 2
    assert [o.outcome for o in view.report.outcomes] == ["would_apply", "would_apply",
                                                          "already"]
    assert view.shift.status == "approved" and view.shift.version == 2
    assert {i.status for i in _items(engine, shift_id).values()} == {"approved"}
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "shift.apply_dry_run")).one()
    assert event.after and event.after["dry_run"] is True
    assert [w["outcome"] for w in event.after["would_apply"]] == ["would_apply", "would_apply",
                                                                  "already"]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_the_nightly_job_applies_failed_items_again(engine: Engine) -> None:
    from campaigns.columns import utcnow
    from campaigns.config import settings_from_dict
    from campaigns.jobs.nightly import run_nightly
    from connectors.base import ConnectorError

    platform = FakePlatform()
    shift_id = approved_shift(engine, platform, accounts=1, per_account=2)
    platform.fail_writes["a0c0"] = ConnectorError("backend error", kind="transient")
    _apply(engine, shift_id, platform, now=utcnow() - dt.timedelta(hours=1))
    del platform.fail_writes["a0c0"]
    settings = settings_from_dict({"scheduler": {"sync": False, "auto_approve": False}})
    report = run_nightly(engine, settings, applier=applier_for(platform))
    assert "apply" not in report.portfolios[0].errors, report.lines()
    with Session(engine) as s:
        shift = s.get(BudgetShift, shift_id)
        assert shift is not None and shift.status == "applied"
    assert dict(platform.writes) == {"a0c0": 1, "a0c1": 1}
