"""The shift inbox and history in a real headless Chromium: sign in, filter by name and
account, approve part of a shift with an item comment (by keyboard) and read the new daily
total, apply it to a platform, roll it back (a second manager approves and applies the
rollback), and a viewer sees no button it may not use. Screenshots of each page at 1400 and
390 px are saved as artifacts (``BUDGETPILOT_TEST_ARTIFACTS`` or the test's tmp dir), and at
390 px nothing is wider than the screen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import Alert, BudgetShift, ShiftItem
from campaigns.shifts import lifecycle as shifts
from tests.api.conftest import SETTINGS
from tests.api.factories import (
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
)
from tests.api.fake_platform import FakePlatform
from tests.browser.chrome import artifacts_dir, pytestmark, screenshots, serve
from tests.browser.test_dashboard import WAIT

__all__ = ["pytestmark"]


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def workspace(sqlite_engine: Engine, platform: FakePlatform) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        nordics = create_account(db, external_id="act_9", name="Nordics Retail")
        dach = create_account(db, external_id="act_8", name="DACH Brand")
        winter = create_campaign(db, account=nordics, external_id="c0", name="Winter sale")
        brand = create_campaign(db, account=nordics, external_id="c1", name="Brand search")
        retarget = create_campaign(db, account=dach, external_id="c2", name="Retargeting")
        prospect = create_campaign(db, account=dach, external_id="c3", name="Prospecting")
        today = dt.datetime.now(dt.UTC).date()
        first = today.replace(day=1)
        add_metrics(db, campaign=winter, start=first, spends=["90"] * max((today - first).days, 1))
        create_plan(db, month=first, planned="9000", scope="account", scope_key="meta:act_9")
        shift = create_shift(db, campaigns=[winter, brand, retarget],
                             new_budgets=["115", "90", "105"])
        other = create_shift(db, campaigns=[prospect], new_budgets=["95"])
        db.add(Alert(kind="pacing_over", severity="warning", scope="account",
                     scope_key="meta:act_9", condition_key="t:1", message="over plan"))
        tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
                  for name, role in (("maria", "manager"), ("olga", "manager"),
                                     ("victor", "viewer"))}
        db.commit()
        items = db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                        .order_by(ShiftItem.id)).all()
        # How sure the optimiser was of the first move, as propose records it.
        winter_item = db.get(ShiftItem, items[0])
        winter_item.prob_gain, winter_item.effect = 0.87, 1.25
        winter_item.effect_low, winter_item.effect_high = -0.4, 2.9
        db.commit()
    platform.budgets.update({c: Decimal(100) for c in ("c0", "c1", "c2", "c3")})
    app = create_app(settings_from_dict(SETTINGS), sqlite_engine,
                     applier=shifts.writeback_applier(connectors=lambda account: platform))
    with serve(app, WAIT) as base:
        yield {"base": base, "shift": shift.id, "other": other.id, "items": list(items),
               "tokens": tokens}


def _sign_in(driver: Any, ws: dict[str, Any], name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{ws['base']}/dashboard")
    driver.find_element(By.ID, "token").send_keys(ws["tokens"][name])
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _shots(driver: Any, tmp_path: Path, name: str) -> None:
    for path in screenshots(driver, artifacts_dir(tmp_path), name):
        assert path.stat().st_size > 5_000, path
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(390, 1000)
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script("return innerWidth") <= 390)
    wide = driver.execute_script("return document.documentElement.scrollWidth")
    view = driver.execute_script("return innerWidth")
    assert wide <= view, f"{name} is {wide}px wide on a {view}px screen"
    cut = driver.execute_script(
        "return [...document.querySelectorAll('.scroll')].filter(e => e.offsetParent"
        " && e.scrollWidth > e.clientWidth + 1).map(e => e.getAttribute('aria-label'))")
    assert cut == [], f"{name}: these tables scroll sideways at {view}px: {cut}"
    driver.set_window_size(1280, 1000)


def _unlabelled(driver: Any) -> list[str]:
    """Controls without an accessible name, and sideways-scrolling tables one cannot focus."""
    return driver.execute_script("""
      const named = (e) => e.labels?.length || e.getAttribute('aria-label')
        || (e.tagName === 'BUTTON' && e.textContent.trim());
      return [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.offsetParent && !named(e)).map((e) => e.outerHTML.slice(0, 80))
        .concat([...document.querySelectorAll('.scroll')]
          .filter((e) => e.tabIndex !== 0).map((e) => e.outerHTML.slice(0, 80)));""")


def _visible_items(card: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-item-id") for r in card.find_elements(By.CSS_SELECTOR, "tbody tr")
            if r.is_displayed()]


def test_partial_approval_apply_and_rollback(browser: Any, workspace: dict[str, Any],
                                             sqlite_engine: Engine, platform: FakePlatform,
                                             tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, ws = browser, workspace
    wait = WebDriverWait(driver, WAIT)
    _sign_in(driver, ws, "maria")
    assert driver.find_element(By.ID, "who").text == "Signed in as maria (manager)"
    assert "skip" in driver.find_element(By.CSS_SELECTOR, "body > :first-child").get_attribute("class")
    assert "Nordics Retail" in driver.find_element(By.CSS_SELECTOR, "#alerts li").text
    card_css = f'.shift[data-shift-id="{ws["shift"]}"]'
    card = driver.find_element(By.CSS_SELECTOR, card_css)
    assert "Winter sale" in card.text and "Nordics Retail" in card.text
    winter_row = card.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{ws["items"][0]}"]')
    assert "net +1.25 (80%: -0.40 to +2.90); 87% likely to help" in winter_row.text
    brand_row = card.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{ws["items"][1]}"]')
    assert "likely to help" not in brand_row.text
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "inbox-manager")

    search = driver.find_element(By.ID, "filter-search")
    search.send_keys("winter")
    assert _visible_items(card) == [str(ws["items"][0])]
    assert not driver.find_element(By.CSS_SELECTOR, f'.shift[data-shift-id="{ws["other"]}"]').is_displayed()
    search.clear()
    Select(driver.find_element(By.ID, "filter-account")).select_by_visible_text("DACH Brand (meta)")
    assert _visible_items(card) == [str(ws["items"][2])]
    pacing = {r.get_attribute("data-key"): r.is_displayed()
              for r in driver.find_elements(By.CSS_SELECTOR, "#pacing tbody tr[data-scope]")}
    assert pacing["meta:act_8"] and not pacing["meta:act_9"]
    Select(driver.find_element(By.ID, "filter-account")).select_by_index(0)
    assert len(_visible_items(card)) == 3

    keep = ws["items"][0]
    row = card.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{keep}"]')
    row.find_element(By.CSS_SELECTOR, ".pick").send_keys(Keys.SPACE)  # by keyboard
    assert "daily total 300.00 EUR → 315.00 EUR" in card.find_element(By.CSS_SELECTOR, ".preview").text
    row.find_element(By.CSS_SELECTOR, ".item-comment").send_keys("strong ROAS")
    card.find_element(By.CSS_SELECTOR, ".approve-selected").send_keys(Keys.ENTER)
    message = f"{card_css} .card-message"
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message), "Approved 1 of 3"))
    text = driver.find_element(By.CSS_SELECTOR, message).text
    assert "The 2 not approved keep their current budgets" in text
    assert "Daily total: 315.00 EUR (was 300.00 EUR)" in text
    with Session(sqlite_engine) as db:
        got = {i.id: (i.status, i.comment) for i in db.exec(
            select(ShiftItem).where(ShiftItem.shift_id == ws["shift"]))}
    assert got[keep] == ("approved", "strong ROAS")
    assert {v for k, v in got.items() if k != keep} == {("rejected", None)}

    driver.find_element(By.CSS_SELECTOR, f"{card_css} .apply").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message), "Shift applied"))
    assert platform.budgets == {"c0": Decimal(115), "c1": Decimal(100), "c2": Decimal(100),
                                "c3": Decimal(100)}
    history = f'#history tr[data-shift-id="{ws["shift"]}"]'
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, history), "applied by maria"))
    assert "approved by maria" in driver.find_element(By.CSS_SELECTOR, history).text
    # The history's total is what the partial approval left, as the inbox said.
    total = driver.find_element(By.CSS_SELECTOR, f'{history} td[data-label="Daily total"]')
    assert total.text == "300.00 EUR → 315.00 EUR", total.text

    driver.find_element(By.CSS_SELECTOR, f"{history} .rollback").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{history} .row-message"),
                                                "Rollback proposed as shift"))
    with Session(sqlite_engine) as db:
        undo = db.exec(select(BudgetShift).where(BudgetShift.rollback_of == ws["shift"])).one()
    undo_css = f'.shift[data-shift-id="{undo.id}"]'
    # its proposer may not approve a rollback this large: the refusal shows in its card
    driver.find_element(By.CSS_SELECTOR, f"{undo_css} .approve-all").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{undo_css} .card-message"),
                                                "another manager must approve it"))

    # the rollback moves 13% of its budget: another manager approves and applies it
    driver.find_element(By.ID, "signout").click()
    _sign_in(driver, ws, "olga")
    driver.find_element(By.CSS_SELECTOR, f"{undo_css} .approve-all").click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{undo_css} .apply"))).click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{undo_css} .card-message"),
                                                "Shift applied"))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, history), "rolled back"))
    assert platform.budgets["c0"] == Decimal(100)
    _shots(driver, tmp_path, "history-manager")


def test_viewer_sees_no_buttons_it_cannot_use(browser: Any, workspace: dict[str, Any],
                                              tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _sign_in(driver, workspace, "victor")
    assert driver.find_element(By.ID, "who").text == "Signed in as victor (viewer)"
    card = driver.find_element(By.CSS_SELECTOR, f'.shift[data-shift-id="{workspace["shift"]}"]')
    assert "Winter sale" in card.text
    for css in (".approve-all", ".approve-selected", ".reject", ".apply", ".rollback", ".pick",
                ".item-comment", ".comment", ".ack", ".resume"):
        assert not driver.find_elements(By.CSS_SELECTOR, css), css
    assert not driver.find_element(By.ID, "pause-all").is_displayed()
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "inbox-viewer")
