"""Apply by file from the shift inbox in a real headless Chromium: a shift with TikTok items
(an imported account: no write connector) and a Meta one. The manager approves it, applies
the Meta item, downloads TikTok's bulk-edit file from the card (its rows are the approved
budget), then confirms the platform took it; each message shows in the card clicked. A viewer
sees the items but none of these buttons."""

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
from campaigns.models import BudgetShift, ShiftItem
from campaigns.shifts import lifecycle as shifts
from tests.api.conftest import SETTINGS
from tests.api.factories import add_metrics, create_account, create_campaign, create_shift
from tests.api.fake_platform import FakePlatform
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import _shots, _sign_in, _unlabelled

__all__ = ["pytestmark"]


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform({"m1": Decimal(100)})


@pytest.fixture
def inbox(sqlite_engine: Engine, platform: FakePlatform) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        tiktok = create_account(db, network="tiktok", external_id="7000000000001",
                                name="TikTok Nordics")
        tiktok.source = "csv"  # what a CSV import gives its accounts: no write connector
        meta = create_account(db, external_id="act_9", name="Nordics Retail")
        spark = create_campaign(db, account=tiktok, external_id="1790000000000001",
                                name="Spark ads", daily_budget="200")
        topview = create_campaign(db, account=tiktok, external_id="1790000000000002",
                                  name="TopView", daily_budget="150")
        winter = create_campaign(db, account=meta, external_id="m1", name="Winter sale")
        today = dt.datetime.now(dt.UTC).date()
        add_metrics(db, campaign=winter, start=today.replace(day=1), spends=["90"])
        shift = create_shift(db, campaigns=[spark, topview, winter],
                             new_budgets=["210.5", "140", "105"])
        tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
                  for name, role in (("maria", "manager"), ("olga", "manager"),
                                     ("victor", "viewer"))}
        db.commit()
        items = list(db.exec(select(ShiftItem.id).where(ShiftItem.shift_id == shift.id)
                             .order_by(ShiftItem.id)).all())
    app = create_app(settings_from_dict(SETTINGS), sqlite_engine,
                     applier=shifts.writeback_applier(connectors=lambda account: platform))
    with serve(app, WAIT) as base:
        yield {"base": base, "shift": shift.id, "items": items, "tokens": tokens}


def _statuses(engine: Engine, shift_id: int) -> list[str]:
    with Session(engine) as db:
        return [i.status for i in db.exec(select(ShiftItem).where(ShiftItem.shift_id == shift_id)
                                          .order_by(ShiftItem.id))]


def test_download_the_file_then_confirm(browser: Any, inbox: dict[str, Any],
                                        sqlite_engine: Engine, platform: FakePlatform,
                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, ws, wait = browser, inbox, WebDriverWait(browser, WAIT)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    _sign_in(driver, ws, "olga")
    card_css = f'.shift[data-shift-id="{ws["shift"]}"]'
    message = f"{card_css} .card-message"
    card = driver.find_element(By.CSS_SELECTOR, card_css)
    assert "tiktok · by file" in card.find_element(
        By.CSS_SELECTOR, f'tr[data-item-id="{ws["items"][0]}"]').text
    assert not card.find_elements(By.CSS_SELECTOR, ".export, .confirm")  # not approved yet
    # approve the Spark ads and Winter sale items (TopView keeps its budget)
    for item in (ws["items"][0], ws["items"][2]):
        card.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{item}"] .pick').click()
    card.find_element(By.CSS_SELECTOR, ".approve-selected").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message), "Approved 2 of 3"))

    # the Meta item goes through its connector; the TikTok one waits for its file
    driver.find_element(By.CSS_SELECTOR, f"{card_css} .apply").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message), "1 item(s) now on"))
    assert platform.budgets["m1"] == Decimal(105)
    assert not driver.find_elements(By.CSS_SELECTOR, f"{card_css} .apply")  # nothing left to send
    export = driver.find_element(By.CSS_SELECTOR, f"{card_css} .export")
    assert export.text == "Download the tiktok file"
    export.click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message), "Downloaded"))
    name = f"shift-{ws['shift']}-tiktok.csv"
    assert f"Downloaded {name} (1 item(s))" in driver.find_element(By.CSS_SELECTOR, message).text
    (saved,) = WebDriverWait(driver, WAIT).until(lambda _: list(downloads.glob("*.csv")))
    assert saved.name == name
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[1:] == ["7000000000001,1790000000000001,Spark ads,EUR,210.50"], lines
    assert _statuses(sqlite_engine, ws["shift"]) == ["exported", "rejected", "applied"]
    assert driver.switch_to.active_element.get_attribute("class") == "card-message ok"
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "inbox-by-file-manager")

    driver.find_element(By.CSS_SELECTOR, f"{card_css} .confirm").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, message),
                                                "Confirmed 1 exported item(s)"))
    assert "Shift applied" in driver.find_element(By.CSS_SELECTOR, message).text
    assert _statuses(sqlite_engine, ws["shift"]) == ["confirmed", "rejected", "applied"]
    assert not driver.find_elements(By.CSS_SELECTOR, f"{card_css} .export, {card_css} .confirm")
    history = f'#history tr[data-shift-id="{ws["shift"]}"]'
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, history), "applied"))


def test_a_viewer_sees_no_export_or_confirm(browser: Any, inbox: dict[str, Any],
                                            sqlite_engine: Engine) -> None:
    from selenium.webdriver.common.by import By

    with Session(sqlite_engine) as db:  # approved and exported, as by a manager
        for item in db.exec(select(ShiftItem).where(ShiftItem.shift_id == inbox["shift"])):
            item.status = "exported" if item.id == inbox["items"][0] else "rejected"
        shift = db.get(BudgetShift, inbox["shift"])
        assert shift is not None
        shift.status, shift.decided_by = "exported", "maria"
        db.commit()
    _sign_in(browser, inbox, "victor")
    card = browser.find_element(By.CSS_SELECTOR, f'.shift[data-shift-id="{inbox["shift"]}"]')
    assert "Spark ads" in card.text and "exported" in card.text
    assert not browser.find_elements(By.CSS_SELECTOR, ".export, .confirm, .apply")
