"""The approvers' dashboard in a real headless Chromium: sign in with a manager token, see a
proposed shift with its items, pacing and alerts, approve one item with a comment, and find
the shift approved in the database with only that item.

Needs Debian's ``chromium`` and ``chromium-driver`` (skipped with the reason when absent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import Alert, AuditEvent, BudgetShift, ShiftItem
from tests.api.conftest import SETTINGS
from tests.api.factories import (
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
)
from tests.browser.chrome import pytestmark, serve

__all__ = ["pytestmark"]

WAIT = 20


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[str]:
    with serve(create_app(settings_from_dict(SETTINGS), sqlite_engine), WAIT) as base:
        yield base


@pytest.fixture
def seeded(sqlite_engine: Engine) -> dict[str, object]:
    """A proposed two-item shift, a month's spend against plan, one open alert, a manager."""
    with Session(sqlite_engine, expire_on_commit=False) as db:
        account = create_account(db, external_id="act_9")
        camps = [create_campaign(db, account=account, daily_budget="100", external_id=f"c{i}")
                 for i in range(2)]
        today = dt.datetime.now(dt.UTC).date()
        first = today.replace(day=1)
        add_metrics(db, campaign=camps[0], start=first,
                    spends=["90"] * max((today - first).days, 1))
        create_plan(db, month=first, planned="3000")
        shift = create_shift(db, campaigns=camps, new_budgets=["115", "85"], created_by="nightly")
        items = db.scalars(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                           .order_by(ShiftItem.id)).all()
        db.add(Alert(kind="shift_waiting", severity="warning", scope="shift",
                     scope_key=str(shift.id), condition_key="test:1",
                     message="shift waits for approval"))
        _, token = create_token(db, name="maria", role="manager", actor="test")
        db.commit()
    return {"shift": shift.id, "items": list(items), "token": token}


def test_manager_approves_one_item(server: str, browser: object, seeded: dict,
                                   sqlite_engine: Engine) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT)  # type: ignore[arg-type]
    driver.get(f"{server}/dashboard")  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "board").is_displayed() is False  # type: ignore[attr-defined]
    driver.find_element(By.ID, "token").send_keys(seeded["token"])  # type: ignore[attr-defined]
    driver.find_element(By.ID, "signin").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    token = driver.execute_script("return sessionStorage.getItem('budgetpilot.token')")  # type: ignore[attr-defined]
    assert token == seeded["token"]

    card = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, f'.shift[data-shift-id="{seeded["shift"]}"]')))
    rows = card.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 2 and "115.00" in rows[0].text and "test" in rows[0].text
    pacing = driver.find_elements(By.CSS_SELECTOR, "#pacing tbody tr")  # type: ignore[attr-defined]
    assert pacing and pacing[0].find_elements(By.CSS_SELECTOR, ".status")
    assert driver.find_elements(By.CSS_SELECTOR, "#alerts li[data-alert-id] .ack")  # type: ignore[attr-defined]

    keep = seeded["items"][0]
    card.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{keep}"] .pick').click()
    card.find_element(By.CSS_SELECTOR, ".comment").send_keys("first one only")
    card.find_element(By.CSS_SELECTOR, ".approve-selected").click()
    done = f'.shift[data-shift-id="{seeded["shift"]}"]'
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{done} .card-message"),
                                                "Approved 1 of 2 items"))
    assert driver.find_element(By.CSS_SELECTOR, done).get_attribute("data-status") == "approved"  # type: ignore[attr-defined]

    with Session(sqlite_engine) as db:
        shift = db.get(BudgetShift, seeded["shift"])
        assert shift is not None
        assert (shift.status, shift.decided_by, shift.comment) == ("approved", "maria", "first one only")
        statuses = dict(db.execute(select(ShiftItem.id, ShiftItem.status)
                                   .where(ShiftItem.shift_id == shift.id)).all())
        assert statuses == {keep: "approved", seeded["items"][1]: "rejected"}
        assert db.scalars(select(AuditEvent).where(AuditEvent.action == "shift.approve")).one().actor == "maria"

    driver.find_element(By.CSS_SELECTOR, "#alerts .ack").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "alerts"), "No open alerts"))
    with Session(sqlite_engine) as db:
        alert = db.scalars(select(Alert)).one()
        assert alert.acknowledged_by == "maria"
