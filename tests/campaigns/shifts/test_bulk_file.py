"""The bulk-edit file's columns are each platform's own titles (the ones its export uses),
and its budgets are written with exactly the currency's decimals."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.config import settings_from_dict
from campaigns.ingest.csv_import.choose import import_formats
from campaigns.shifts.bulk_file import COLUMNS, BudgetRow, amount, render, titles
from connectors.currencies import ISO_4217
from connectors.exports import normal
from connectors.exports.platforms import PLATFORMS


@pytest.mark.parametrize("network", ["tiktok", "snapchat", "x", "linkedin", "vk"])
def test_each_platform_file_has_the_titles_its_export_uses(network: str) -> None:
    header = titles(network)
    fmt = next(f for f in PLATFORMS.values() if f.network == network)
    assert [fmt._column(normal(t)) for t in header] == [(c, 0) for c in COLUMNS]


def test_the_file_as_tiktok_writes_it() -> None:
    rows = [BudgetRow("adv", "2", "B", "JPY", Decimal("5000")),
            BudgetRow("adv", "1", "A, with a comma", "EUR", Decimal("120.5"))]
    assert render("tiktok", rows).decode() == (
        "Advertiser ID,Campaign ID,Campaign name,Currency,Campaign budget\r\n"
        'adv,1,"A, with a comma",EUR,120.50\r\nadv,2,B,JPY,5000\r\n')


def test_vk_titles_are_russian_with_a_byte_order_mark_and_other_networks_use_the_mapping() -> None:
    vk = render("vk", [BudgetRow("1", "2", "Кампания", "RUB", Decimal("300"))])
    assert vk.startswith("\ufeff".encode()) and "Дневной бюджет" in vk.decode("utf-8-sig")
    settings = settings_from_dict({"imports": [{
        "name": "bing", "network": "bing", "currency": "USD",
        "columns": {"date": "Day", "spend": "Spend", "campaign_id": "Campaign Id",
                    "daily_budget": "Budget"}}]})
    assert titles("bing", import_formats(settings)) == [
        "account_id", "Campaign Id", "campaign_name", "currency", "Budget"]
    assert titles("unknown") == list(COLUMNS)


@given(currency=st.sampled_from(sorted(ISO_4217)),
       minor=st.integers(min_value=0, max_value=10**12))
def test_a_budget_is_written_exactly_with_its_currencys_decimals(currency: str,
                                                                 minor: int) -> None:
    places = ISO_4217[currency]
    budget = Decimal(minor).scaleb(-places)
    text = amount(budget, currency)
    assert Decimal(text) == budget
    assert len(text.partition(".")[2]) == places and "," not in text and "E" not in text
    [row] = list(csv.reader(io.StringIO(render("x", [BudgetRow("a", "c", "n", currency,
                                                                budget)]).decode())))[1:]
    assert row[-1] == text
