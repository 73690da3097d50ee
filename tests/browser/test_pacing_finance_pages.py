"""The pacing board and the finance page in a real headless Chromium: a bar per network and
account with the API's figures and a status that follows the forecast (7% over plan is
"over"), an earlier month from the picker, acknowledging an alert by keyboard (and the API
agreeing), a viewer without the button; finance totals and the downloaded CSV equal to the
API's to the cent; a missing FX rate marking its rows and naming the rate. Screenshots of each
page at 1400 and 390 px are saved as artifacts and nothing is wider than a phone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import settings_from_dict
from campaigns.models import Alert
from tests.api.conftest import SETTINGS
from tests.api.factories import add_metrics, create_account, create_campaign, create_plan
from tests.browser.chrome import pytestmark, serve
from tests.browser.test_dashboard import WAIT
from tests.browser.test_workspace import _shots, _unlabelled

__all__ = ["pytestmark"]

# The default thresholds (5%): a forecast 7% over plan is over.
PAGE_SETTINGS = {k: v for k, v in SETTINGS.items() if k != "pacing"}


def _month_days(first: dt.date, last: dt.date) -> int:
    return (last - first).days + 1


def _seed(db: Session, *, sek: bool = False) -> dict[str, Any]:
    """Two networks, three accounts, plans for this month and the one before; one account's
    forecast exactly 7% over its plan. With ``sek``, an account in SEK without FX rates."""
    as_of = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    month = as_of.replace(day=1)
    prev = (month - dt.timedelta(days=1)).replace(day=1)
    days_in_month = _month_days(month, (month + dt.timedelta(days=32)).replace(day=1)
                                - dt.timedelta(days=1))
    nordics = create_account(db, external_id="act_9", name="Nordics Retail")
    dach = create_account(db, external_id="act_8", name="DACH Brand")
    search = create_account(db, network="google", external_id="123-456", name="DACH Search")
    spans = _month_days(prev, as_of)
    # spend = budget every day: each forecast is exactly budget x days in the month
    for account, budget, spend in ((nordics, "100", "100"), (dach, "60", "60"),
                                   (search, "45.50", "45.50")):
        camp = create_campaign(db, account=account, daily_budget=budget,
                               name=f"{account.name} always-on")
        add_metrics(db, campaign=camp, start=prev, spends=[spend] * spans)
    over = Decimal(100 * days_in_month) / Decimal("1.07")
    create_plan(db, month=month, planned=str(over.quantize(Decimal("0.01"))), scope="account",
                scope_key="meta:act_9")
    create_plan(db, month=month, planned=str(60 * days_in_month), scope="account",
                scope_key="meta:act_8")
    create_plan(db, month=month, planned="1500", scope="network", scope_key="google")
    create_plan(db, month=month, planned="6000")
    create_plan(db, month=prev, planned="5000")
    create_plan(db, month=prev, planned="2000", scope="account", scope_key="meta:act_8")
    if sek:
        stockholm = create_account(db, currency="SEK", external_id="act_7", name="Stockholm")
        add_metrics(db, campaign=create_campaign(db, account=stockholm, daily_budget="0"),
                    start=month, spends=["1000"] * _month_days(month, as_of))
    alerts = [Alert(kind="plan_breach_forecast", severity="critical", scope="account",
                    scope_key="meta:act_9", condition_key="t:1",
                    message="forecast 7% over plan"),
              Alert(kind="pacing_under", severity="warning", scope="network",
                    scope_key="google", condition_key="t:2", message="google under plan")]
    db.add_all(alerts)
    tokens = {name: create_token(db, name=name, role=role, actor="test")[1]
              for name, role in (("fiona", "finance"), ("victor", "viewer"),
                                 ("sam", "service"))}
    db.commit()
    return {"as_of": as_of, "month": month, "prev": prev, "tokens": tokens,
            "alerts": [a.id for a in alerts]}


@pytest.fixture
def board(sqlite_engine: Engine) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        seeded = _seed(db)
    app = create_app(settings_from_dict(PAGE_SETTINGS), sqlite_engine)
    with serve(app, WAIT) as base:
        yield {**seeded, "base": base}


@pytest.fixture
def board_without_sek_rate(sqlite_engine: Engine) -> Iterator[dict[str, Any]]:
    with Session(sqlite_engine, expire_on_commit=False) as db:
        seeded = _seed(db, sek=True)
    app = create_app(settings_from_dict(PAGE_SETTINGS), sqlite_engine)
    with serve(app, WAIT) as base:
        yield {**seeded, "base": base}


def _api(ws: dict[str, Any], name: str, path: str) -> Any:
    r = httpx.get(f"{ws['base']}/api/v1{path}", timeout=WAIT,
                  headers={"Authorization": f"Bearer {ws['tokens'][name]}"})
    assert r.status_code == 200, r.text
    return r.json()


def _open(driver: Any, ws: dict[str, Any], page: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{ws['base']}{page}")
    driver.find_element(By.ID, "token").send_keys(ws["tokens"][name])
    driver.find_element(By.ID, "signin").click()
    _ready(driver)


def _ready(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _plain(text: str) -> str:
    """A figure as the page shows it ("1,234.50", "−3.00") back to the API's string."""
    return text.replace(",", "").replace("−", "-").replace("+", "").strip()


def _bars(driver: Any) -> dict[tuple[str, str], Any]:
    from selenium.webdriver.common.by import By

    return {(li.get_attribute("data-scope"), li.get_attribute("data-key")): li
            for li in driver.find_elements(By.CSS_SELECTOR, "#bars li.pace-row")}


def _check_bars(driver: Any, report: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    bars = _bars(driver)
    scopes = {(r["scope"], r["scope_key"]) for r in report["data"]}
    assert set(bars) == scopes
    assert {s for s, _ in scopes} >= {"total", "network", "account"}
    for row in report["data"]:
        li = bars[(row["scope"], row["scope_key"])]
        for attr, field in (("spend", "spend_to_date"), ("plan", "planned"),
                            ("forecast", "forecast"), ("low", "forecast_low"),
                            ("high", "forecast_high"), ("status", "status")):
            assert li.get_attribute(f"data-{attr}") == row[field], (row["scope_key"], attr)
        figures = li.find_element(By.CSS_SELECTOR, ".pace-figures").text
        assert f"spent {_grouped(row['spend_to_date'])} {row['currency']}" in figures
        if row["status"] != "no_plan":
            assert f"plan {_grouped(row['planned'])}" in figures
        if report["days_elapsed"] < report["days_in_month"]:
            assert f"forecast {_grouped(row['forecast'])}" in figures
        else:  # an ended month's forecast is what it spent
            assert "(the whole month)" in figures and row["forecast"] == row["spend_to_date"]
        spend = float(li.find_element(By.CSS_SELECTOR, ".bar-spend").get_attribute("width"))
        forecast = float(li.find_element(By.CSS_SELECTOR, ".bar-forecast").get_attribute("width"))
        if float(row["forecast"]) > 0:  # the bars are drawn to the figures
            assert spend / forecast == pytest.approx(
                float(row["spend_to_date"]) / float(row["forecast"]), abs=0.01)


def _grouped(value: str) -> str:
    whole, _, part = value.partition(".")
    return f"{int(whole):,}" + (f".{part}" if part else "")


def test_pacing_board_bars_months_and_acknowledge(browser: Any, board: dict[str, Any],
                                                  sqlite_engine: Engine,
                                                  tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, ws = browser, board
    _open(driver, ws, "/pacing", "fiona")
    assert driver.find_element(By.ID, "who").text == "Signed in as fiona (finance)"
    current = _api(ws, "fiona", "/pacing")
    _check_bars(driver, current)
    nordics = _bars(driver)[("account", "meta:act_9")]
    assert "Nordics Retail" in nordics.text
    assert nordics.get_attribute("data-status") == "over"  # the forecast is 7% over plan
    # ("spent" on the 1st, when the month pacing shows by default has just ended)
    assert re.search(r"over plan: (forecast|spent) 107% of plan", nordics.text)
    dach = _bars(driver)[("account", "meta:act_8")]
    assert re.search(r"on track: (forecast|spent) 100% of plan", dach.text)
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "pacing-finance-role")

    # an earlier month, from the picker by keyboard
    prev = f"{ws['prev']:%Y-%m}"
    picker = driver.find_element(By.ID, "month")
    assert len(Select(picker).options) == 13
    picker.send_keys(Keys.ARROW_DOWN)  # the options run from this month back: the one before
    assert picker.get_attribute("value") == prev
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.month") == prev)
    _ready(driver)
    past = _api(ws, "fiona", f"/pacing?month={prev}")
    assert past["month"][:7] == prev and past["days_elapsed"] == past["days_in_month"]
    _check_bars(driver, past)
    total = _bars(driver)[("total", "")]
    assert total.get_attribute("data-spend") == total.get_attribute("data-forecast")
    assert past != current
    assert "the whole month" in driver.find_element(By.ID, "pacing-when").text
    assert f"month={prev}" in driver.current_url
    _shots(driver, tmp_path, "pacing-earlier-month")

    # acknowledge the first alert from the keyboard: it leaves the open alerts, in the API too
    first, second = ws["alerts"]
    button = driver.find_element(By.CSS_SELECTOR, f'#alerts li[data-alert-id="{first}"] .ack')
    button.send_keys(Keys.ENTER)
    WebDriverWait(driver, WAIT).until(lambda d: not d.find_elements(
        By.CSS_SELECTOR, f'#alerts li[data-alert-id="{first}"]'))
    assert driver.find_elements(By.CSS_SELECTOR, f'#alerts li[data-alert-id="{second}"]')
    assert "acknowledged" in driver.find_element(By.ID, "alerts-message").text
    still_open = _api(ws, "fiona", "/alerts?acknowledged=false")
    assert [a["id"] for a in still_open["data"]] == [second]
    assert _api(ws, "fiona", f"/alerts/{first}")["acknowledged_by"] == "fiona"


def test_viewer_sees_alerts_without_acknowledge(browser: Any, board: dict[str, Any],
                                                tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, board, "/pacing", "victor")
    assert driver.find_element(By.ID, "who").text == "Signed in as victor (viewer)"
    alerts = driver.find_elements(By.CSS_SELECTOR, "#alerts li[data-alert-id]")
    assert len(alerts) == 2 and "forecast 7% over plan" in alerts[0].text + alerts[1].text
    assert not driver.find_elements(By.CSS_SELECTOR, ".ack")
    assert not driver.find_elements(By.CSS_SELECTOR, "#alerts button")
    _check_bars(driver, _api(board, "victor", "/pacing"))
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "pacing-viewer")


def _finance_rows(driver: Any) -> dict[tuple[str, str, str], dict[str, str]]:
    from selenium.webdriver.common.by import By

    out = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "#finance-table tr[data-level]"):
        key = (tr.get_attribute("data-level"), tr.get_attribute("data-month") or "",
               tr.get_attribute("data-account") or tr.get_attribute("data-network") or "")
        out[key] = {cls: _plain(tr.find_element(By.CSS_SELECTOR, f"td.{cls}").text)
                    for cls in ("spend", "plan", "forecast")}
    return out


def _api_figures(x: dict[str, Any]) -> dict[str, str]:
    return {k: "—" if x[k] is None else x[k] for k in ("spend", "plan", "forecast")}


def test_finance_totals_and_csv_equal_the_api(browser: Any, board: dict[str, Any],
                                              tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, ws = browser, board
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    _open(driver, ws, "/finance", "fiona")
    start = driver.find_element(By.ID, "from-month").get_attribute("value")
    end = driver.find_element(By.ID, "to-month").get_attribute("value")
    assert end == f"{ws['month']:%Y-%m}"
    report = _api(ws, "fiona", f"/finance/spend-vs-plan?start_month={start}&end_month={end}")
    shown = _finance_rows(driver)
    assert shown[("total", "", "")] == _api_figures(report["total"])
    for t in report["month_totals"]:
        assert shown[("month", t["month"][:7], "")] == _api_figures(t), t["month"]
    for t in report["network_totals"]:
        assert shown[("network", t["month"][:7], t["network"])] == _api_figures(t)
    for r in report["rows"]:
        assert shown[("account", r["month"][:7], r["account"])] == _api_figures(r)
    # this month's figures are pacing's, to the cent
    pacing = {(x["scope"], x["scope_key"]): x for x in _api(ws, "fiona", "/pacing")["data"]}
    this = next(t for t in report["month_totals"] if t["month"][:7] == end)
    assert this["spend"] == pacing[("total", "")]["spend_to_date"]
    assert this["forecast"] == pacing[("total", "")]["forecast"]
    assert driver.find_elements(By.CSS_SELECTOR, "#chart svg .month-bars")
    assert driver.find_element(By.ID, "fx-missing").is_displayed() is False
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "finance")
    _chart_text_readable_at_390(driver)

    driver.find_element(By.ID, "download").click()
    deadline = time.monotonic() + WAIT
    while not list(downloads.glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (saved,) = downloads.glob("*.csv")
    assert saved.name == f"finance-default-{start}-{end}.csv"
    lines = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    total = next(x for x in lines if x["level"] == "total")
    assert total["spend_eur"] == report["total"]["spend"]
    assert total["plan"] == (report["total"]["plan"] or "")
    for t in report["month_totals"]:
        row = next(x for x in lines if x["level"] == "month" and x["month"] == t["month"][:7])
        assert (row["spend_eur"], row["forecast"]) == (t["spend"], t["forecast"] or "")
    accounts = [Decimal(x["spend_eur"]) for x in lines if x["level"] == "account"]
    assert sum(accounts) == Decimal(report["total"]["spend"])
    assert "Downloaded" in driver.find_element(By.ID, "download-message").text

    # From after To: the reason, and no figures left standing under the new months
    later = (ws["month"] + dt.timedelta(days=32)).replace(day=1)
    Select(driver.find_element(By.ID, "from-month")).select_by_value(f"{later:%Y-%m}")
    WebDriverWait(driver, WAIT).until(lambda d: "end_month is before start_month"
                                      in d.find_element(By.ID, "message").text)
    assert not driver.find_elements(By.CSS_SELECTOR, "#finance-table tr[data-level]")


def test_finance_marks_rows_without_an_fx_rate(browser: Any,
                                               board_without_sek_rate: dict[str, Any],
                                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver, ws = browser, board_without_sek_rate
    _open(driver, ws, "/finance", "fiona")
    box = driver.find_element(By.ID, "fx-missing")
    assert box.is_displayed() and "SEK→EUR" in box.text and "meta:act_7" in box.text
    marked = driver.find_elements(By.CSS_SELECTOR, "#finance-table tr.fx-missing")
    assert [tr.get_attribute("data-account") for tr in marked] == ["meta:act_7"]
    assert "no FX rate" in marked[0].text and "add the FX rate SEK→EUR for" in marked[0].text
    # the other rows and the totals are still there, the totals marked as leaving it out
    shown = _finance_rows(driver)
    month = f"{ws['month']:%Y-%m}"
    assert shown[("account", month, "meta:act_9")]["spend"] not in ("", "—")
    report = _api(ws, "fiona", f"/finance/spend-vs-plan?start_month={month}&end_month={month}")
    this = next(t for t in report["month_totals"] if t["month"][:7] == month)
    assert shown[("month", month, "")]["spend"] == this["spend"] and this["complete"] is False
    assert "leaves out rows without an FX rate" in driver.find_element(
        By.CSS_SELECTOR, f'#finance-table tr[data-level="month"][data-month="{month}"]').text
    assert _unlabelled(driver) == []
    _shots(driver, tmp_path, "finance-missing-fx")


def test_a_role_that_may_not_read_finance_gets_no_download(browser: Any,
                                                           board: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, board, "/finance", "sam")
    assert driver.find_element(By.ID, "who").text == "Signed in as sam (service)"
    assert not driver.find_element(By.ID, "download").is_displayed()
    assert "may not read finance reports" in driver.find_element(By.ID, "message").text


def test_pacing_without_an_fx_rate_says_which_here(browser: Any,
                                                   board_without_sek_rate: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, board_without_sek_rate, "/pacing", "fiona")
    message = driver.find_element(By.ID, "board-message")
    assert message.is_displayed() and "no FX rate SEK→EUR" in message.text
    assert not _bars(driver)  # no figures that leave an account out unsaid
    assert len(driver.find_elements(By.CSS_SELECTOR, "#alerts li[data-alert-id]")) == 2


def _chart_text_readable_at_390(driver: Any) -> None:
    """On a phone the month chart is drawn at the phone's width: its axis labels keep their
    11 px (not a laptop's chart shrunk to a third) and do not run into each other."""
    driver.set_window_size(390, 1000)  # as the screenshots do: to the width, then the height
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(390, min(max(int(height), 600), 6000))
    labels = driver.execute_script("""
      return [...document.querySelectorAll('#chart svg .tick')].map((t) => {
        const r = t.getBoundingClientRect();
        return [r.left, r.right, r.height, t.textContent];
      });""")
    driver.set_window_size(1280, 1000)
    assert labels and min(h for _, _, h, _ in labels) >= 10, labels
    months = sorted((left, right) for left, right, _, text in labels if " " in text)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(months)), months
