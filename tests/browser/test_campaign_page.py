"""The campaign page in a real headless Chromium: reached from a campaign's name in the shift
inbox, it draws the daily series with the days still arriving shaded, the response curve with
its band, observed days and current/proposed budget markers, and the budget's audit trail
with the applied change. Screenshots at 1400 and 390 px; at 390 px nothing is wider than
the screen, and a viewer sees no button it cannot use."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from campaigns.admin.auth import Principal, Role, create_token
from campaigns.config import settings_from_dict
from campaigns.models import BudgetShift
from campaigns.policy import service_config
from campaigns.shifts import lifecycle as shifts
from tests.api.conftest import SETTINGS
from tests.api.fake_platform import FakePlatform
from tests.api.test_campaign_page import add_restatements, seed
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import _shots, _sign_in, _unlabelled

__all__ = ["pytestmark"]


@pytest.fixture
def page(sqlite_engine: Engine) -> Iterator[dict[str, Any]]:
    """A run's first shift applied by maria, then a second run proposing again."""
    platform = FakePlatform({"c0": Decimal(100), "c1": Decimal(100)})
    applier = shifts.writeback_applier(connectors=lambda account: platform)
    ids = seed(sqlite_engine)
    with Session(sqlite_engine) as db:  # syncs restated its days: the last two still arrive
        add_restatements(db, ids["strong"], ids["today"])
    maria = Principal(name="maria", role=Role.manager)
    with Session(sqlite_engine, expire_on_commit=False) as db:
        shift = db.get(BudgetShift, ids["shift"])
        assert shift is not None
        view = shifts.approve(db, shift.id or 0, version=shift.version, user=maria,
                              policy=service_config(settings_from_dict(SETTINGS)).service)
        shifts.apply(db, shift.id or 0, version=view.shift.version, user=maria, applier=applier)
        tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
                  for name, role in (("maria", "manager"), ("victor", "viewer"))}
        db.commit()
    again = seed_again(sqlite_engine)
    app = create_app(settings_from_dict(SETTINGS), sqlite_engine, applier=applier)
    with serve(app, WAIT) as base:
        yield {**ids, "base": base, "tokens": tokens, "again": again}


def seed_again(engine: Engine) -> int | None:
    """Tomorrow's proposal (today's budgets moved already: a second move today is capped)."""
    from campaigns.optimization.proposals import propose

    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with Session(engine) as db:
        result = propose(db, settings_from_dict(SETTINGS), created_by="olga", now=tomorrow)
        db.commit()
    return result.shift_id


def _open(driver: Any, ws: dict[str, Any], name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _sign_in(driver, ws, name)
    link = driver.find_element(By.CSS_SELECTOR,
                               f'.shift[data-shift-id="{ws["again"]}"] a.campaign-link[href="/campaigns/{ws["strong"]}"]')
    assert link.text == "Winter sale"
    link.click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def test_campaign_page_draws_series_curve_and_trail(browser: Any, page: dict[str, Any],
                                                    tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    _open(driver, page, "maria")
    assert driver.find_element(By.ID, "campaign-title").text == "Winter sale"
    series = driver.find_element(By.CSS_SELECTOR, "#series svg")
    kinds = [p.get_attribute("data-series") for p in series.find_elements(By.CSS_SELECTOR, "path.series")]
    assert kinds == ["spend", "conversions", "revenue"]
    assert all(len(p.get_attribute("d")) > 100 for p in series.find_elements(By.CSS_SELECTOR, "path.series"))
    assert series.find_element(By.CSS_SELECTOR, "rect.arriving")
    assert "still arriving" in series.text
    assert series.find_element(By.TAG_NAME, "title").get_attribute("textContent").startswith("Daily spend")

    figure = driver.find_element(By.CSS_SELECTOR, '#curves figure[data-budget-id="c0"]')
    curve = figure.find_element(By.TAG_NAME, "svg")
    assert curve.get_attribute("aria-labelledby")
    assert curve.find_element(By.CSS_SELECTOR, "path.band").get_attribute("d").endswith("Z")
    assert curve.find_element(By.CSS_SELECTOR, "path.curve")
    assert len(curve.find_elements(By.CSS_SELECTOR, "circle.observed")) >= 50
    assert curve.find_elements(By.CSS_SELECTOR, "circle.arriving-dot")
    assert curve.find_element(By.CSS_SELECTOR, "line.marker-current")
    proposed = curve.find_element(By.CSS_SELECTOR, "line.marker-proposed")
    current = curve.find_element(By.CSS_SELECTOR, "line.marker-current")
    assert proposed.get_attribute("x1") != current.get_attribute("x1")
    assert figure.find_element(By.CSS_SELECTOR, "details table tbody tr")  # the data table
    d_conv = curve.find_element(By.CSS_SELECTOR, "path.curve").get_attribute("d")
    Select(driver.find_element(By.ID, "curve-metric")).select_by_value("revenue")
    redrawn = driver.find_element(By.CSS_SELECTOR, '#curves figure[data-budget-id="c0"] path.curve')
    assert redrawn.get_attribute("d") != d_conv

    recent = driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr.is-arriving")
    assert recent and all("still arriving" in r.text for r in recent)
    assert re.search(r"~(49|50|51)% reported", recent[0].text)

    # How complete the recent days are, drawn: yesterday's bar half full, older ones full.
    summary = driver.find_element(By.ID, "completion-summary").text
    assert re.search(r"yesterday ~(49|50|51)% reported", summary) and "2 day(s) still arriving" in summary
    bars = driver.find_elements(By.CSS_SELECTOR, "#completion svg rect.reported")
    shares = [float(b.get_attribute("data-reported")) for b in bars]
    assert len(bars) >= 3 and abs(shares[-1] - 0.5) < 0.05 and shares[-3] > 0.97
    heights = [float(b.get_attribute("height")) for b in bars]
    assert heights[-1] < 0.6 * heights[-3]
    assert driver.find_elements(By.CSS_SELECTOR, "#completion svg rect.reported-late")
    assert driver.find_elements(By.CSS_SELECTOR, "#completion svg line.whisker")

    row = driver.find_element(By.CSS_SELECTOR, f'#trail tr[data-shift-id="{page["shift"]}"]')
    assert row.get_attribute("data-status") == "applied"
    assert f"100.00 EUR → {page['proposed']:.2f} EUR" in row.text
    assert "applied by maria" in row.text and "approved by maria" in row.text
    assert f"platform budget 100.00 EUR → {page['proposed']:.2f} EUR by maria" in row.text
    pending = driver.find_element(By.CSS_SELECTOR, f'#trail tr[data-shift-id="{page["again"]}"]')
    assert pending.get_attribute("data-status") == "pending"
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "campaign-manager")


def test_viewer_sees_the_page_without_buttons(browser: Any, page: dict[str, Any],
                                              tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, page, "victor")
    buttons = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "button") if b.is_displayed()]
    assert buttons == ["Sign out"]
    assert "read_audit" in driver.find_element(By.ID, "trail-message").text
    assert driver.find_element(By.CSS_SELECTOR, f'#trail tr[data-shift-id="{page["shift"]}"]')
    _shots(driver, tmp_path, "campaign-viewer")
