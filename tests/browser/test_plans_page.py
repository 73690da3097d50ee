"""Plans, caps and locks in a real headless Chromium: finance creates a month's plan for an
account picked from the portfolio's list and sees pacing follow it, edits it, and uploads a
plans file (a bad row is shown with its line and column and nothing is written; a good file
is checked, then written); a manager creates and edits a cap and a lock; a viewer sees no
control it may not use. Screenshots at 1400 and 390 px are saved as artifacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import AuditEvent, BudgetPlan, Portfolio, SpendCap
from tests.api.conftest import SETTINGS
from tests.api.factories import add_metrics, create_account, create_campaign
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import _shots, _unlabelled

__all__ = ["pytestmark"]


@pytest.fixture
def site(sqlite_engine: Engine) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        nordics = create_account(db, external_id="act_9", name="Nordics Retail")
        dach = create_account(db, external_id="act_8", name="DACH Brand")
        winter = create_campaign(db, account=nordics, external_id="c0", name="Winter sale")
        create_campaign(db, account=nordics, external_id="c1", name="Brand search")
        retarget = create_campaign(db, account=dach, external_id="c2", name="Retargeting")
        today = dt.datetime.now(dt.UTC).date()
        first = today.replace(day=1)
        days = max((today - first).days, 1)
        add_metrics(db, campaign=winter, start=first, spends=["90"] * days)
        add_metrics(db, campaign=retarget, start=first, spends=["40"] * days)
        tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
                  for name, role in (("fiona", "finance"), ("maria", "manager"),
                                     ("victor", "viewer"))}
        db.commit()
    app = create_app(settings_from_dict(SETTINGS), sqlite_engine)
    with serve(app, WAIT) as base:
        yield {"base": base, "tokens": tokens, "month": first}


def _open(driver: Any, site: dict[str, Any], name: str, page: str = "/plans") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{site['base']}{page}")
    driver.find_element(By.ID, "token").send_keys(site["tokens"][name])
    driver.find_element(By.ID, "signin").click()
    _ready(driver)


def _ready(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _pacing_plan(driver: Any, site: dict[str, Any], key: str) -> str | None:
    """The dashboard's pacing board: the plan shown for a scope key (None: no row)."""
    from selenium.webdriver.common.by import By

    driver.get(f"{site['base']}/dashboard")  # the token is still in this tab
    _ready(driver)
    rows = driver.find_elements(By.CSS_SELECTOR, f'#pacing tr[data-key="{key}"] td[data-label="Plan"]')
    return rows[0].text if rows else None


def _plans(engine: Engine) -> list[tuple[str, str, Decimal, int]]:
    with Session(engine) as db:
        return [(p.scope, p.scope_key, p.planned_spend, p.version) for p in db.exec(
            select(BudgetPlan).order_by(BudgetPlan.scope, BudgetPlan.scope_key))]


def test_finance_sets_edits_and_uploads_plans_and_pacing_follows(
    browser: Any, site: dict[str, Any], sqlite_engine: Engine, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, wait = browser, WebDriverWait(browser, WAIT)
    _open(driver, site, "fiona")
    assert driver.find_element(By.ID, "who").text == "Signed in as fiona (finance)"
    assert not driver.find_element(By.ID, "cap-form").is_displayed()  # caps are managers'
    before = _pacing_plan(driver, site, "meta:act_8")
    assert before in (None, "0.00 EUR")

    driver.get(f"{site['base']}/plans")
    _ready(driver)
    Select(driver.find_element(By.ID, "plan-scope")).select_by_value("account")
    keys = Select(driver.find_element(By.ID, "plan-key"))
    # the keys offered are the portfolio's accounts, by name: nothing to type
    assert [o.text for o in keys.options] == ["DACH Brand (meta:act_8)",
                                              "Nordics Retail (meta:act_9)"]
    assert driver.find_element(By.ID, "plan-key").tag_name == "select"
    keys.select_by_visible_text("DACH Brand (meta:act_8)")
    driver.find_element(By.ID, "plan-amount").send_keys("4,500")
    driver.find_element(By.ID, "plan-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "plan-message"), "Created"))
    assert "DACH Brand: 4,500.00 EUR" in driver.find_element(By.ID, "plan-message").text
    row = driver.find_element(By.CSS_SELECTOR, '#plans tr[data-key="meta:act_8"]')
    assert "DACH Brand" in row.text and "4,500.00 EUR" in row.text
    assert _plans(sqlite_engine) == [("account", "meta:act_8", Decimal("4500.00"), 1)]
    assert _pacing_plan(driver, site, "meta:act_8") == "4,500.00 EUR"

    # edit it: the form takes the plan, a new amount updates it (its version is sent)
    driver.get(f"{site['base']}/plans")
    _ready(driver)
    driver.find_element(By.CSS_SELECTOR, '#plans tr[data-key="meta:act_8"] .edit-plan').click()
    assert "Edit the plan for DACH Brand" in driver.find_element(By.ID, "plan-form-title").text
    amount = driver.find_element(By.ID, "plan-amount")
    amount.clear()
    amount.send_keys("5000.50")
    driver.find_element(By.ID, "plan-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "plan-message"), "Updated"))
    assert _plans(sqlite_engine) == [("account", "meta:act_8", Decimal("5000.50"), 2)]
    assert _unlabelled(driver) == []

    # a file with a bad row: its line and column are shown, nothing is written
    month = f"{site['month']:%Y-%m}"
    bad = tmp_path / "plans-bad.csv"
    bad.write_text(f"month,scope,scope_key,planned_spend\n{month},total,,9000\n"
                   f"{month},account,meta:act_9,lots\n", encoding="utf-8")
    driver.find_element(By.ID, "plan-file").send_keys(str(bad))
    driver.find_element(By.ID, "upload-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "upload-message"), "rejected"))
    assert "nothing was written" in driver.find_element(By.ID, "upload-message").text
    [problem] = driver.find_elements(By.CSS_SELECTOR, "#upload-errors tbody tr")
    cells = [c.text for c in problem.find_elements(By.TAG_NAME, "td")]
    assert cells[:2] == ["3", "planned_spend"], cells
    assert _plans(sqlite_engine) == [("account", "meta:act_8", Decimal("5000.50"), 2)]
    _shots(driver, tmp_path, "plans-finance")

    # a good file: checked first (nothing written), then uploaded
    good = tmp_path / "plans.csv"
    good.write_text(f"month,scope,scope_key,planned_spend,hard\n{month},total,,9000,yes\n"
                    f"{month},account,meta:act_9,\"4,000.00\",\n", encoding="utf-8")
    driver.find_element(By.ID, "plan-file").clear()
    driver.find_element(By.ID, "plan-file").send_keys(str(good))
    driver.find_element(By.ID, "upload-check").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "upload-message"), "is fine"))
    assert "2 new, 0 updated" in driver.find_element(By.ID, "upload-message").text
    assert not driver.find_element(By.ID, "upload-problems").is_displayed()
    assert len(_plans(sqlite_engine)) == 1
    driver.find_element(By.ID, "upload-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "upload-message"), "Uploaded"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#plans tr[data-key="meta:act_9"]'))
    assert [(s, k, v) for s, k, v, _ in _plans(sqlite_engine)] == [
        ("account", "meta:act_8", Decimal("5000.50")),
        ("account", "meta:act_9", Decimal("4000.00")), ("total", "", Decimal("9000"))]
    assert "hard cap" in driver.find_element(By.CSS_SELECTOR, '#plans tr[data-scope="total"]').text


def test_manager_creates_and_edits_a_cap_and_a_lock(
    browser: Any, site: dict[str, Any], sqlite_engine: Engine, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, wait = browser, WebDriverWait(browser, WAIT)
    _open(driver, site, "maria")
    assert not driver.find_element(By.ID, "plan-form").is_displayed()  # plans are finance's
    assert not driver.find_elements(By.CSS_SELECTOR, ".edit-plan")
    Select(driver.find_element(By.ID, "cap-scope")).select_by_value("campaign")
    keys = Select(driver.find_element(By.ID, "cap-key"))
    assert "Winter sale (meta:act_9:c0)" in [o.text for o in keys.options]
    keys.select_by_visible_text("Winter sale (meta:act_9:c0)")
    driver.find_element(By.ID, "cap-max").send_keys("150")
    driver.find_element(By.ID, "cap-change").send_keys("20")
    driver.find_element(By.ID, "cap-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "cap-message"), "Created the cap"))
    row = driver.find_element(By.CSS_SELECTOR, '#caps tr[data-key="meta:act_9:c0"]')
    assert "Winter sale" in row.text and "150.00 EUR" in row.text and "20.0%" in row.text

    # edit it into a lock: the limits stay, the budget is kept as it is
    row.find_element(By.CSS_SELECTOR, ".edit-cap").click()
    assert driver.find_element(By.ID, "cap-max").get_attribute("value") == "150.00"
    driver.find_element(By.ID, "cap-locked").click()
    driver.find_element(By.ID, "cap-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "cap-message"), "Updated the lock"))
    # a lock on a whole account
    Select(driver.find_element(By.ID, "cap-scope")).select_by_value("account")
    Select(driver.find_element(By.ID, "cap-key")).select_by_visible_text(
        "DACH Brand (meta:act_8)")
    driver.find_element(By.ID, "cap-locked").click()
    driver.find_element(By.ID, "cap-save").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "cap-message"), "Created the lock"))
    with Session(sqlite_engine) as db:
        caps = {(c.scope_key): (c.max_daily, c.max_change, c.locked, c.version)
                for c in db.exec(select(SpendCap))}
    assert caps == {"meta:act_9:c0": (Decimal("150.00"), 0.2, True, 2),
                    "meta:act_8": (None, None, True, 1)}
    assert "locked" in driver.find_element(By.CSS_SELECTOR, '#caps tr[data-key="meta:act_8"]').text
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "caps-manager")


def test_viewer_sees_plans_and_caps_but_no_control(
    browser: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, site, "victor")
    assert driver.find_element(By.ID, "who").text == "Signed in as victor (viewer)"
    for form in ("plan-form", "upload-form", "cap-form"):
        assert not driver.find_element(By.ID, form).is_displayed(), form
    assert not driver.find_elements(By.CSS_SELECTOR, ".edit-plan, .edit-cap")
    assert "No plan for this month yet" in driver.find_element(By.ID, "plans").text
    # whether the optimisation runs steer by the plans (off here)
    assert driver.find_element(By.ID, "plans-followed").text.startswith(
        "The optimisation runs do not steer by these plans (optimizer.follow_plans is off)")
    assert _unlabelled(driver) == []


def test_deleting_asks_first_and_only_for_who_may(
    browser: Any, site: dict[str, Any], sqlite_engine: Engine, tmp_path: Path
) -> None:
    """Finance deletes a plan (Keep it leaves it; Yes, delete removes it and says so under the
    table, audited); a manager deletes a cap the same way; a viewer sees the rows, no Delete."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with Session(sqlite_engine) as db:
        portfolio = db.exec(select(Portfolio).where(Portfolio.name == "default")).one()
        db.add_all([BudgetPlan(portfolio_id=portfolio.id, month=site["month"], scope="account",
                               scope_key="meta:act_8", currency="EUR",
                               planned_spend=Decimal("4500")),
                    SpendCap(portfolio_id=portfolio.id, scope="account", scope_key="meta:act_9",
                             max_daily=Decimal("200"))])
        db.commit()
    driver, wait = browser, WebDriverWait(browser, WAIT)
    plan_row, cap_row = '#plans tr[data-key="meta:act_8"]', '#caps tr[data-key="meta:act_9"]'

    _open(driver, site, "victor")
    assert "DACH Brand" in driver.find_element(By.CSS_SELECTOR, plan_row).text
    assert "Nordics Retail" in driver.find_element(By.CSS_SELECTOR, cap_row).text
    assert not driver.find_elements(By.CSS_SELECTOR, ".delete-plan, .delete-cap")
    driver.find_element(By.ID, "signout").click()

    _open(driver, site, "fiona")
    assert not driver.find_elements(By.CSS_SELECTOR, ".delete-cap")  # caps are managers'
    button = driver.find_element(By.CSS_SELECTOR, f"{plan_row} .delete-plan")
    assert button.accessible_name == f"Delete the plan for DACH Brand ({site['month']:%Y-%m})"
    button.click()
    ask = driver.find_element(By.CSS_SELECTOR, f"{plan_row} .confirm")
    assert "Delete the plan for DACH Brand" in ask.text
    # asking deletes nothing; "Keep it" puts the buttons back
    ask.find_element(By.CSS_SELECTOR, ".keep").click()
    assert driver.find_element(By.CSS_SELECTOR, f"{plan_row} .delete-plan").is_displayed()
    assert len(_plans(sqlite_engine)) == 1
    driver.find_element(By.CSS_SELECTOR, f"{plan_row} .delete-plan").click()
    # the confirmation has the focus: Enter on it deletes
    assert driver.switch_to.active_element.text == "Yes, delete"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "plans-message"), "Deleted the plan"))
    assert "DACH Brand" in driver.find_element(By.ID, "plans-message").text
    assert not driver.find_elements(By.CSS_SELECTOR, plan_row)
    assert _plans(sqlite_engine) == []
    assert _unlabelled(driver) == []
    driver.find_element(By.ID, "signout").click()

    _open(driver, site, "maria")
    driver.find_element(By.CSS_SELECTOR, f"{cap_row} .delete-cap").click()
    _shots(driver, tmp_path, "caps-delete-manager")
    driver.find_element(By.CSS_SELECTOR, f"{cap_row} .confirm-delete").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "caps-message"), "Deleted the cap"))
    with Session(sqlite_engine) as db:
        assert db.exec(select(SpendCap)).all() == []
        actions = {(e.action, e.actor) for e in db.exec(
            select(AuditEvent).where(col(AuditEvent.action).like("%.delete")))}
    assert actions == {("plan.delete", "fiona"), ("cap.delete", "maria")}
