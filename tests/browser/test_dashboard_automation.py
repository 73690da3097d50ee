"""The kill switch in the dashboard, in a real headless Chromium: a manager pauses all
automation with a reason, sees it paused, and resumes it; a viewer sees the state but may not
change it. Both are in the database and the audit log with who and why."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.auth import create_token
from campaigns.models import AuditEvent, AutomationPause
from tests.api.factories import get_portfolio
from tests.browser.chrome import pytestmark
from tests.browser.test_dashboard import WAIT, server  # noqa: F401

__all__ = ["pytestmark"]


def _sign_in(driver: object, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/dashboard")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "token").send_keys(token)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "signin").click()  # type: ignore[attr-defined]
    WebDriverWait(driver, WAIT).until(  # type: ignore[arg-type]
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def test_manager_pauses_and_resumes_automation(server: str, browser: object,  # noqa: F811
                                               sqlite_engine: Engine) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with Session(sqlite_engine) as db:
        get_portfolio(db)
        _, manager = create_token(db, name="maria", role="manager", actor="test")
        _, viewer = create_token(db, name="victor", role="viewer", actor="test")
        db.commit()
    driver = browser
    wait = WebDriverWait(driver, WAIT)  # type: ignore[arg-type]
    _sign_in(driver, server, manager)
    assert "running" in driver.find_element(By.ID, "automation-state").text  # type: ignore[attr-defined]
    driver.find_element(By.ID, "pause-all").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "automation-message"), "Say why"))
    driver.find_element(By.ID, "automation-reason").send_keys("site outage")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "pause-all").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "automation-state"),
                                                "All automation is paused"))
    pause = driver.find_element(By.CSS_SELECTOR, '#pauses li[data-scope="global"]')  # type: ignore[attr-defined]
    assert "maria" in pause.text and "site outage" in pause.text
    with Session(sqlite_engine) as db:
        row = db.scalars(select(AutomationPause)).one()
        assert (row.scope, row.paused_by, row.reason) == ("global", "maria", "site outage")

    driver.find_element(By.ID, "signout").click()  # type: ignore[attr-defined]
    _sign_in(driver, server, viewer)
    assert "All automation is paused" in driver.find_element(By.ID, "automation-state").text  # type: ignore[attr-defined]
    # a viewer sees the state but no control it may not use
    assert driver.find_elements(By.CSS_SELECTOR, "#pauses li")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.CSS_SELECTOR, "#pauses .resume")  # type: ignore[attr-defined]
    assert not driver.find_element(By.ID, "pause-all").is_displayed()  # type: ignore[attr-defined]

    driver.find_element(By.ID, "signout").click()  # type: ignore[attr-defined]
    _sign_in(driver, server, manager)
    driver.find_element(By.ID, "automation-reason").send_keys("outage over")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "#pauses .resume").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "automation-state"), "running"))
    with Session(sqlite_engine) as db:
        assert db.scalars(select(AutomationPause)).all() == []
        events = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "automation")
                            .order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor) for e in events] == [("automation.pause", "maria"),
                                                         ("automation.resume", "maria")]
