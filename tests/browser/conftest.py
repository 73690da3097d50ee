"""The headless Chromium every browser test drives (the modules skip without one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chrome import CHROMEDRIVER, CHROMIUM, chrome


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium/chromedriver (apt-get install -y chromium chromium-driver)")
    with chrome(CHROMIUM, CHROMEDRIVER) as driver:
        yield driver
