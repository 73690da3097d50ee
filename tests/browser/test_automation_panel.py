"""The automation panel and the inbox's sort and filters in a real headless Chromium: a
manager pauses one account from the panel, the nightly run leaves that account's shift
waiting and the panel's list of runs says so; the panel shows dry-run mode and the schedule
from the config; the inbox sorts items by change, budget and name and filters them by
direction and reason; a viewer sees the panel without its controls."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.app import create_app
from campaigns.config import settings_from_dict
from campaigns.jobs.nightly import run_nightly
from campaigns.models import AutomationPause, BudgetShift, ShiftItem
from campaigns.shifts import lifecycle as shifts
from tests.api.conftest import SETTINGS
from tests.api.fake_platform import FakePlatform
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import (  # noqa: F401  (fixtures)
    _shots,
    _sign_in,
    _unlabelled,
    _visible_items,
    platform,
    workspace,
)

__all__ = ["pytestmark"]
PANEL = {**SETTINGS, "scheduler": {"timezone": "Europe/Berlin"},
         "portfolios": [{"name": "default", "schedule": "15 3 * * *"}]}


def _reload(driver: Any, ws: dict[str, Any]) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{ws['base']}/dashboard")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def test_pausing_one_account_holds_its_items_in_the_nightly_and_the_panel_shows_it(
    browser: Any, workspace: dict[str, Any], sqlite_engine: Engine,  # noqa: F811
    platform: FakePlatform, tmp_path: Path,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, ws = browser, workspace
    wait = WebDriverWait(driver, WAIT)
    # the manager's shift (both accounts) is approved, waiting for the nightly to apply it
    with Session(sqlite_engine) as db:
        shift = db.get(BudgetShift, ws["shift"])
        assert shift is not None
        shift.status = "approved"
        for item in db.exec(select(ShiftItem).where(ShiftItem.shift_id == ws["shift"])):
            item.status = "approved"
            db.add(item)
        db.add(shift)
        db.commit()
    _sign_in(driver, ws, "maria")
    picker = Select(driver.find_element(By.ID, "pause-account-key"))
    assert [o.text for o in picker.options] == ["DACH Brand (meta:act_8)",
                                                "Nordics Retail (meta:act_9)"]
    assert "No nightly run has finished yet" in driver.find_element(By.ID, "runs").text
    picker.select_by_visible_text("DACH Brand (meta:act_8)")
    driver.find_element(By.ID, "automation-reason").send_keys("client disputes spend")
    driver.find_element(By.ID, "pause-account").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "automation-message"),
                                                "Paused account DACH Brand (meta:act_8)"))
    # the list of pauses is reloaded after the message: wait for it, not only the message
    pause = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, '#pauses li[data-scope="account"]')))
    assert "DACH Brand" in pause.text and "client disputes spend" in pause.text
    assert "except where paused" in driver.find_element(By.ID, "automation-state").text
    with Session(sqlite_engine) as db:
        row = db.exec(select(AutomationPause)).one()
    assert (row.scope, row.scope_key, row.paused_by) == ("account", "meta:act_8", "maria")

    report = run_nightly(sqlite_engine, settings_from_dict(PANEL),
                         applier=shifts.writeback_applier(connectors=lambda account: platform))
    [outcome] = report.portfolios
    assert any(f"shift {ws['shift']} waits" in h and "meta:act_8" in h for h in outcome.held)
    assert platform.budgets == {c: Decimal(100) for c in ("c0", "c1", "c2", "c3")}

    _reload(driver, ws)
    run = driver.find_element(By.CSS_SELECTOR, "#runs li.run")
    assert f"Held: shift {ws['shift']} waits: accounts meta:act_8 are paused" in run.text
    assert "0 budget(s) changed" in run.text
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "automation-manager")

    # resumed from the panel: the pause is gone, in the page and the database
    driver.find_element(By.ID, "automation-reason").send_keys("settled")
    driver.find_element(By.CSS_SELECTOR, '#pauses li[data-key="meta:act_8"] .resume').click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "automation-state"), "Automation is running"))
    with Session(sqlite_engine) as db:
        assert db.exec(select(AutomationPause)).all() == []


def test_the_panel_shows_dry_run_and_the_schedule(
    browser: Any, workspace: dict[str, Any], sqlite_engine: Engine  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    dry = {**PANEL, "automation": {"dry_run": True},
           "optimizer": {**PANEL.get("optimizer", {}), "follow_plans": True}}
    with serve(create_app(settings_from_dict(dry), sqlite_engine), WAIT) as base:
        _sign_in(browser, {**workspace, "base": base}, "victor")
        settings = browser.find_element(By.ID, "automation-settings")
        mode = settings.find_element(By.CSS_SELECTOR, 'dd[data-setting="mode"]').text
        assert mode.startswith("dry run: the nightly records what it would apply")
        schedule = settings.find_element(By.CSS_SELECTOR, 'dd[data-setting="schedule"]').text
        assert schedule.startswith("15 3 * * * (Europe/Berlin); next run ")
        assert "cron (budgetpilot nightly)" in settings.text
        plans = settings.find_element(By.CSS_SELECTOR, 'dd[data-setting="plans"]').text
        assert plans.startswith("followed: planned networks and accounts stay within 5%")
        # a viewer reads the state, not the controls nor the run log
        assert not browser.find_element(By.ID, "pause-account").is_displayed()
        assert "does not read the run log" in browser.find_element(By.ID, "runs").text
    with serve(create_app(settings_from_dict(PANEL), sqlite_engine), WAIT) as base:
        _sign_in(browser, {**workspace, "base": base}, "victor")
        mode = browser.find_element(By.CSS_SELECTOR, 'dd[data-setting="mode"]').text
        assert mode.startswith("live: the nightly writes")
        plans = browser.find_element(By.CSS_SELECTOR, 'dd[data-setting="plans"]').text
        assert plans.startswith("not followed by the runs")


def test_inbox_sorts_by_change_budget_and_name_and_filters_by_direction_and_reason(
    browser: Any, workspace: dict[str, Any], sqlite_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, ws = browser, workspace
    winter, brand, retarget = ws["items"]  # +15 (115), -10 (90), +5 (105)
    with Session(sqlite_engine) as db:
        item = db.get(ShiftItem, brand)
        assert item is not None
        item.binding_limit, item.reason = "max_change", "max change -10% reached"
        db.add(item)
        db.commit()
    _sign_in(driver, ws, "maria")
    card = driver.find_element(By.CSS_SELECTOR, f'.shift[data-shift-id="{ws["shift"]}"]')
    order = Select(driver.find_element(By.ID, "sort-items"))
    ids = [str(i) for i in (winter, brand, retarget)]
    assert _visible_items(card) == ids  # as proposed
    order.select_by_visible_text("change (largest first)")
    assert _visible_items(card) == [str(winter), str(brand), str(retarget)]  # 15, -10, 5
    order.select_by_visible_text("proposed budget (largest first)")
    assert _visible_items(card) == [str(winter), str(retarget), str(brand)]  # 115, 105, 90
    order.select_by_visible_text("name (A to Z)")
    assert _visible_items(card) == [str(brand), str(retarget), str(winter)]
    direction = Select(driver.find_element(By.ID, "filter-direction"))
    direction.select_by_visible_text("cuts only")
    assert _visible_items(card) == [str(brand)]
    # the other shift's only item is a cut too; a raises-only view hides it whole
    direction.select_by_visible_text("raises only")
    assert _visible_items(card) == [str(retarget), str(winter)]
    assert not driver.find_element(
        By.CSS_SELECTOR, f'.shift[data-shift-id="{ws["other"]}"]').is_displayed()
    direction.select_by_index(0)
    reason = Select(driver.find_element(By.ID, "filter-reason"))
    assert [o.text for o in reason.options] == ["all reasons", "balancing returns (no limit)",
                                                "max change per run"]
    reason.select_by_visible_text("max change per run")
    assert _visible_items(card) == [str(brand)]
    reason.select_by_visible_text("balancing returns (no limit)")
    assert _visible_items(card) == [str(retarget), str(winter)]
    # with the name search on top
    driver.find_element(By.ID, "filter-search").send_keys("winter")
    assert _visible_items(card) == [str(winter)]
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "inbox-sorted")
