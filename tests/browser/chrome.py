"""Headless Chromium for the browser tests: start a driver (optionally with the internet
unreachable) and save screenshots at a given width as test artifacts."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "")
                     if p and Path(p).exists()), None)
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("selenium") is None,
                       reason="selenium is not installed"),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium chromium-driver)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="no chromedriver (apt-get install -y chromium-driver)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]
# every host but the test server resolves to nothing: the page must need no internet
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
WIDTHS = (1400, 390)


@contextmanager
def serve(app: Any, timeout: float = 20) -> Iterator[str]:
    """The app on a free local port in a uvicorn thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


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
        driver.execute_script("window.scrollTo(0, 0)")  # a focused page may have scrolled
        path = folder / f"{name}-{width}.png"
        assert driver.save_screenshot(str(path)), path
        saved.append(path)
        if width < 600:  # a phone's page is long: also in screens of 900 px, to read them
            _slices(driver, folder, f"{name}-{width}", width, int(height))
    driver.set_window_size(1280, 1000)
    return saved


def _slices(driver: Any, folder: Path, stem: str, width: int, height: int) -> None:
    import base64

    for n, top in enumerate(range(0, min(height, 6000), 900), start=1):
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width, "height": 900, "scale": 1}})
        (folder / f"{stem}-part{n}.png").write_bytes(base64.b64decode(shot["data"]))
