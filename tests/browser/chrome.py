"""Headless Chromium for the browser tests: start a driver (optionally with the internet
unreachable) and save screenshots at a given width as test artifacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]
# every host but the test server resolves to nothing: the page must need no internet
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
WIDTHS = (1400, 390)


@contextmanager
def chrome(binary: str, driver_path: str, extra: list[str] | None = None,
           timeout: float = 20) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binary
    for flag in FLAGS + (extra or []):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(timeout)
    try:
        yield driver
    finally:
        driver.quit()


def artifacts_dir(tmp_path: Path) -> Path:
    """``BUDGETPILOT_TEST_ARTIFACTS`` if set (e.g. ``test-artifacts/``), else the test's tmp dir."""
    root = os.environ.get("BUDGETPILOT_TEST_ARTIFACTS")
    folder = Path(root) if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshots(driver: Any, folder: Path, name: str) -> list[Path]:
    """The whole page at each width in WIDTHS, as ``name-WIDTH.png``."""
    saved = []
    for width in WIDTHS:
        driver.set_window_size(width, 1000)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(int(height), 600), 6000))
        path = folder / f"{name}-{width}.png"
        assert driver.save_screenshot(str(path)), path
        saved.append(path)
    driver.set_window_size(1280, 1000)
    return saved
