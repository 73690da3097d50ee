"""The campaign page's kept curve fits are per process and right in every process: the key
is the portfolio's data stamp, read from the database on each view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns.models import DailyMetric
from campaigns.optimization import curve_view
from campaigns.reports.cache import Cache
from tests.api.test_campaign_page import client, platform, seed

__all__ = ["client", "platform"]  # the campaign page's app, as its tests use it

Headers = Callable[[str], dict[str, str]]


def test_the_kept_fit_is_right_in_every_process(
    client: TestClient, engine: Engine, as_role: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two worker processes each keep their own fits (one cache each). A restated day
    written by another process — whose clock is behind the newest row, so it does not move
    the latest ``updated_at`` — moves the curve in both, and both draw the same curve."""
    ids = seed(engine)
    url = f"/api/v1/campaigns/{ids['strong']}/curve"
    first: Cache[Any] = Cache(3600, maxsize=16)
    second: Cache[Any] = Cache(3600, maxsize=16)

    def view(cache: Cache[Any]) -> Any:
        monkeypatch.setattr(curve_view, "FITS", cache)
        r = client.get(url, headers=as_role("viewer"))
        assert r.status_code == 200, r.text
        return r.json()["curves"][0]["points"]

    before = view(first)
    assert view(second) == before  # seeded fits: the processes agree
    with Session(engine) as db:
        day = db.exec(select(DailyMetric).where(DailyMetric.campaign_id == ids["strong"])
                      .order_by(col(DailyMetric.updated_at))).first()
        assert day is not None
        day.conversions *= 3  # a late restatement, stamped with an old clock
        day.updated_at = day.updated_at - dt.timedelta(hours=1)
        db.commit()
    after = view(first)
    assert after != before, "the first process still drew the fit of the old data"
    assert view(second) == after
