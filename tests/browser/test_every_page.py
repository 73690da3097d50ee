"""Every page as a campaign manager, a finance analyst and a viewer, in a real headless
Chromium at 1400 and 390 px: the one shared header (pages with the current one marked, the
portfolio picker, who is signed in with which role and how to get a token), every control
named, nothing cut off or scrolling sideways at phone width, and the page usable by keyboard
(the skip link lands on the page). A token limited to one portfolio is offered only that one
and says so. Screenshots go to ``BUDGETPILOT_TEST_ARTIFACTS`` (or the test's tmp dir)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import Alert, SpendCap
from tests.api.conftest import SETTINGS
from tests.api.factories import (
    add_metrics,
    create_account,
    create_campaign,
    create_plan,
    create_shift,
    get_portfolio,
)
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import _shots, _unlabelled

__all__ = ["pytestmark"]

PAGES = {"/dashboard": "Approvals", "/pacing": "Pacing", "/finance": "Finance",
         "/plans": "Plans, caps and locks"}
ROLES = {"maria": "manager", "fiona": "finance", "victor": "viewer"}


@pytest.fixture
def site(sqlite_engine: Engine) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        nordics = create_account(db, external_id="act_9", name="Nordics Retail")
        dach = create_account(db, external_id="act_8", name="DACH Brand")
        winter = create_campaign(db, account=nordics, external_id="c0",
                                 name="Winter sale — long campaign name for the phone width")
        brand = create_campaign(db, account=nordics, external_id="c1", name="Brand search")
        retarget = create_campaign(db, account=dach, external_id="c2", name="Retargeting")
        today = dt.datetime.now(dt.UTC).date()
        first = today.replace(day=1)
        days = max((today - first).days, 1)
        add_metrics(db, campaign=winter, start=first, spends=["90"] * days)
        add_metrics(db, campaign=retarget, start=first, spends=["40"] * days)
        create_plan(db, month=first, planned="9000", scope="account", scope_key="meta:act_9")
        create_plan(db, month=first, planned="12000")
        portfolio = get_portfolio(db)
        db.add(SpendCap(portfolio_id=portfolio.id, scope="campaign", scope_key="meta:act_9:c0",
                        max_daily=Decimal("150"), max_change=0.2))
        create_shift(db, campaigns=[winter, brand, retarget], new_budgets=["115", "90", "105"])
        db.add(Alert(kind="pacing_over", scope="account", scope_key="meta:act_9",
                     condition_key="t:1", portfolio_id=portfolio.id,
                     message="Nordics Retail forecasts 12% over plan"))
        get_portfolio(db, "nordics")
        tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
                  for name, role in ROLES.items()}
        tokens["nina"] = create_token(db, name="nina", role="manager", actor="test",
                                      portfolios=["nordics"])[1]
        db.commit()
    settings = settings_from_dict({**SETTINGS, "portfolios": [{"name": "default"},
                                                              {"name": "nordics"}]})
    with serve(create_app(settings, sqlite_engine), WAIT) as base:
        yield {"base": base, "tokens": tokens}


def _sign_in(driver: Any, site: dict[str, Any], page: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site['base']}{page}")
    driver.find_element(By.ID, "token").send_keys(site["tokens"][name])
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _header(driver: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    nav = driver.find_elements(By.CSS_SELECTOR, "header nav.pages")
    assert len(nav) == 1, "one nav of the pages"
    links = nav[0].find_elements(By.TAG_NAME, "a")
    return {"pages": {a.get_attribute("pathname"): a.text for a in links},
            "current": [a.get_attribute("pathname") for a in links
                        if a.get_attribute("aria-current") == "page"],
            "who": driver.find_element(By.ID, "who").text,
            "help": driver.find_element(By.ID, "token-help").text,
            "portfolios": [o.get_attribute("value") for o in driver.find_elements(
                By.CSS_SELECTOR, "header #portfolio option")]}


@pytest.mark.parametrize("name", list(ROLES))
def test_every_page_for_each_role(browser: Any, site: dict[str, Any], name: str,
                                  tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get(f"{site['base']}/dashboard")
    before = _header(driver)
    assert before["who"] == ""
    assert "budgetpilot token create --name NAME --role manager" in before["help"]
    assert "POST /api/v1/tokens" in before["help"]
    _sign_in(driver, site, "/dashboard", name)
    for page in PAGES:
        driver.get(f"{site['base']}{page}")  # the token stays in this tab: signed in
        WebDriverWait(driver, WAIT).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        header = _header(driver)
        assert header["pages"] == PAGES and header["current"] == [page], page
        assert header["who"] == f"Signed in as {name} ({ROLES[name]})", page
        assert header["portfolios"] == ["default", "nordics"], page
        assert "budgetpilot token create" in header["help"], page
        assert _unlabelled(driver) == [], page
        # keyboard: the first Tab reaches the skip link, Enter moves the focus to the page
        ActionChains(driver).send_keys(Keys.TAB).perform()
        skip = driver.switch_to.active_element
        assert "skip" in (skip.get_attribute("class") or ""), page
        skip.send_keys(Keys.ENTER)
        target = skip.get_attribute("hash")[1:]
        assert driver.switch_to.active_element.get_attribute("id") == target, page
        _shots(driver, tmp_path, f"{page.strip('/')}-{ROLES[name]}")


def test_a_token_of_one_portfolio_is_offered_only_that_one(browser: Any,
                                                           site: dict[str, Any]) -> None:
    _sign_in(browser, site, "/pacing", "nina")
    header = _header(browser)
    assert header["who"] == "Signed in as nina (manager) for nordics"
    assert header["portfolios"] == ["nordics"]
    from selenium.webdriver.common.by import By

    # nordics has no alerts of its own (the default portfolio's is not shown)
    assert browser.find_element(By.ID, "alerts").text == "No open alerts."
    browser.find_element(By.ID, "signout").click()
    assert _header(browser)["portfolios"] == ["default", "nordics"]


@pytest.mark.parametrize("page", ["/pacing", "/dashboard"])
def test_the_alerts_follow_the_chosen_portfolio(browser: Any, site: dict[str, Any],
                                                page: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _sign_in(browser, site, page, "victor")
    assert "Nordics Retail forecasts 12% over plan" in browser.find_element(By.ID, "alerts").text
    Select(browser.find_element(By.ID, "portfolio")).select_by_value("nordics")
    WebDriverWait(browser, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1"
        and d.find_element(By.ID, "alerts").text == "No open alerts.")
    # a viewer has no Action column on the plans page: nothing it could click
    browser.get(f"{site['base']}/plans")
    WebDriverWait(browser, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#plans th, #caps th")
             if h.is_displayed()]
    assert "Action" not in heads and "Planned" in heads
