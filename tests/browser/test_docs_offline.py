"""Swagger UI at /docs and ReDoc at /redoc render the API's operations in a headless Chromium
that cannot reach any host but the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chrome import (
    CHROMEDRIVER,
    CHROMIUM,
    OFFLINE,
    artifacts_dir,
    chrome,
    pytestmark,
    screenshots,
)
from tests.browser.test_dashboard import WAIT, server  # noqa: F401

__all__ = ["pytestmark"]
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def offline_browser() -> Iterator[object]:
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    with chrome(CHROMIUM, CHROMEDRIVER, extra=OFFLINE, timeout=WAIT) as driver:
        yield driver


def _foreign_requests(driver: object, base: str) -> list[str]:
    urls = driver.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [u for u in urls if not u.startswith(base) and not u.startswith("data:")]


def test_swagger_ui_renders_operations_offline(server: str, offline_browser: object,  # noqa: F811
                                               tmp_path: Path) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = offline_browser
    with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
        driver.get("https://example.com/")  # type: ignore[attr-defined]  # the net is cut
    driver.get(f"{server}/docs")  # type: ignore[attr-defined]
    wait = WebDriverWait(driver, WAIT)  # type: ignore[arg-type]
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
    paths = {e.text for e in driver.find_elements(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/shifts/{shift_id}/approve" in {p.replace("\u200b", "") for p in paths}
    assert _foreign_requests(driver, server) == []
    screenshots(driver, artifacts_dir(tmp_path), "docs")


def test_redoc_renders_offline(server: str, offline_browser: object,  # noqa: F811
                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = offline_browser
    driver.get(f"{server}/redoc")  # type: ignore[attr-defined]
    WebDriverWait(driver, WAIT).until(  # type: ignore[arg-type]
        lambda d: "approve" in d.find_element(By.TAG_NAME, "body").text.lower()
        and d.find_elements(By.CSS_SELECTOR, "h2"))
    # ReDoc's footer tries its vendor's logo (hidden when it fails); the page's CSP blocks it
    assert set(_foreign_requests(driver, server)) <= {REDOC_LOGO}
    screenshots(driver, artifacts_dir(tmp_path), "redoc")
