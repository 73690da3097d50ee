"""Exported numbers and dates read back exactly: any amount, written the way platforms write
it (thousand separators, currency symbols or codes, a decimal comma), parses to itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.exports.numbers import (
    clean_dates,
    clean_number,
    clean_numbers,
    is_negative_amount,
)

amounts = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2)
counts = st.integers(min_value=0, max_value=10**15)
affixes = st.sampled_from(["", "$", "€", "£", "¥", "₽", "USD ", "€ "])
suffixes = st.sampled_from(["", " €", " ₽", " EUR", " руб."])


def grouped(value: Decimal | int, sep: str, point: str) -> str:
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    return text.replace(",", "\0").replace(".", point).replace("\0", sep)


@given(amounts, affixes)
def test_point_decimals_with_comma_thousands_and_symbols_round_trip(
    value: Decimal, prefix: str
) -> None:
    assert Decimal(clean_number(prefix + grouped(value, ",", "."))) == value


@given(amounts, st.sampled_from([".", " ", "\u00a0", "\u202f"]), suffixes)
def test_comma_decimals_with_dot_or_space_thousands_round_trip(
    value: Decimal, sep: str, suffix: str
) -> None:
    text = grouped(value, sep, ",") + suffix
    assert Decimal(clean_number(text, decimal_comma=True)) == value


@given(counts)
def test_grouped_counts_round_trip(value: int) -> None:
    assert int(clean_number(grouped(value, ",", "."))) == value
    assert int(clean_number(grouped(value, ".", ","), decimal_comma=True)) == value


@given(st.sampled_from(["1,2,3", "12,34.5", "1.204,50", "abc", "-5.00", "1,204.50.1",
                        "2.5%", "$-3", "1 204.50"]))
def test_anything_not_exactly_a_known_shape_is_handed_back_unchanged(text: str) -> None:
    # ... so the cell check reports the user's own text instead of a guess
    assert clean_number(text) == text


@given(amounts.filter(lambda v: v > 0), affixes,
       st.sampled_from(["-{}", "\u2212{}", "({})", "{}-", "- {}"]), st.booleans())
def test_a_negative_amount_in_any_shape_is_known_as_negative(
    value: Decimal, prefix: str, shape: str, comma: bool,
) -> None:
    written = prefix + grouped(value, "." if comma else ",", "," if comma else ".")
    assert not is_negative_amount(written)
    assert is_negative_amount(shape.format(written))
    if prefix.strip():  # "$-3": the minus after the symbol
        assert is_negative_amount(prefix + "-" + written[len(prefix):])


def test_what_is_not_an_amount_is_not_negative_either() -> None:
    assert not any(map(is_negative_amount, ["-", "--", "-abc", "-1,20.5", "(x)", "-5%", "--5"]))


def test_no_data_marks_are_blank() -> None:
    assert [clean_number(v) for v in (" --", "-", "—")] == ["", "", ""]


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_in_each_platform_form_come_back_iso(day: dt.date) -> None:
    for form in ("%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%b %d, %Y", "%Y-%m-%d %H:%M:%S"):
        assert clean_dates([day.strftime(form)], [form]) == (day.isoformat(),)
    # a US file's 13th "month" is not quietly read as a European date
    assert clean_dates(["13/01/2026"], ["%m/%d/%Y"]) == ("13/01/2026",)


@given(st.lists(st.one_of(amounts.map(lambda v: grouped(v, ",", ".")), amounts.map(str),
                          st.sampled_from(["$1.00", "--", " --", "-", "—", "n/a", "- -",
                                           "-5", "5-", "1,2", "x", " 5", ""])),
                max_size=30))
def test_a_column_cleans_exactly_as_its_cells_do(col: list[str]) -> None:
    assert clean_numbers(col, decimal_comma=False) == tuple(clean_number(v) for v in col)
    assert clean_numbers(col, decimal_comma=True) == tuple(
        clean_number(v, decimal_comma=True) for v in col)
