"""Checking the cells of a CSV import: each error names the file, line and column.

Clean cells (plain digits, ISO dates) pass whole columns at a time; only the others get a
careful, per-cell look that accepts spreadsheet habits (blanks, a decimal comma in ``;``
files, spaces) or names what is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from connectors.exports.numbers import is_negative_amount

REQUIRED = (
    "date", "network", "account_id", "campaign_id", "campaign_name", "currency", "spend",
    "impressions", "clicks", "conversions", "revenue",
)  # fmt: skip
# The social counts, in the store's column order; a blank cell is "not reported" (NULL).
SOCIAL = ("reach", "video_views", "engagements", "reactions", "comments", "shares", "follows")
OPTIONAL = ("daily_budget", *SOCIAL)
MAX_ERRORS = 20
NETWORK_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
# Time zones run up to UTC+14: a row dated "tomorrow" in UTC can be today somewhere.
FUTURE_SLACK = dt.timedelta(days=1)
MAX_AMOUNT = Decimal(10) ** 12
MAX_COUNT = 10**18  # BIGINT holds up to 9.2e18


# Spend, counts and budgets cannot be below zero; a platform's refund or correction row is
# left out of the export rather than netted in.
NEGATIVE_HINT = "(amounts and counts cannot be below zero)"


class TooManyErrors(Exception):
    pass


@dataclass
class CellParser:
    """Turns text cells into typed values, collecting errors that name line and column."""

    path: str
    decimal_comma: bool
    today: dt.date
    errors: list[str] = field(default_factory=list)
    date_hint: str = "YYYY-MM-DD"  # the form the file's dates are in, for the error message

    def fail(self, line: int, column: str | None, message: str) -> None:
        where = f"line {line}" + (f", column {column}" if column else "")
        self.errors.append(f"{self.path}: {where}: {message}")
        if len(self.errors) >= MAX_ERRORS:
            raise TooManyErrors

    def parse_date(self, text: str) -> dt.date | str:
        value = text.strip()
        if value.endswith((" 00:00:00", "T00:00:00", " 00:00")):
            value = value.split(" ")[0].split("T")[0]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return f"{text!r} is not a date in the form {self.date_hint}"
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return f"{value} is not a real date"
        if day > self.today + FUTURE_SLACK:
            return f"{value} is in the future"
        return day

    def number(
        self, text: str, line: int, column: str, *, required: bool = False
    ) -> Decimal | None:
        # Fast path for the common, clean cell; everything else is looked at closely below.
        try:
            number = Decimal(text)
        except InvalidOperation:
            return self._number(text, line, column, required)
        if number.is_finite() and 0 <= number < MAX_AMOUNT:
            return number
        return self._number(text, line, column, required)

    def _number(self, text: str, line: int, column: str, required: bool) -> Decimal | None:
        value = text.strip()
        if not value:
            if required:
                self.fail(line, column, "is empty")
            return None
        if self.decimal_comma and "," in value:
            value = value.replace(".", "").replace(",", ".")
        value = value.replace(" ", "").replace("\u00a0", "")
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            if is_negative_amount(text):
                self.fail(line, column, f"{text.strip()} is negative {NEGATIVE_HINT}")
            else:
                self.fail(line, column, f"{text.strip()!r} is not a number")
            return None
        if number < 0:
            self.fail(line, column, f"{text.strip()} is negative {NEGATIVE_HINT}")
            return None
        if number >= MAX_AMOUNT:
            self.fail(line, column, f"{text.strip()} is too large (at most 12 digits before "
                      "the decimal point)")
            return None
        return number

    def count(self, text: str, line: int, column: str) -> int:
        try:
            value = int(text)
        except ValueError:
            pass
        else:
            if 0 <= value < MAX_COUNT:
                return value
        number = self._number(text, line, column, False)
        if number is None:
            return 0
        if number != number.to_integral_value():
            self.fail(line, column, f"{text.strip()} is not a whole number")
            return 0
        if number >= MAX_COUNT:
            self.fail(line, column, f"{text.strip()} is too large")
            return 0
        return int(number)


# A clean cell, checked for a whole column at C speed; anything else takes the careful path.
# Money columns are NUMERIC(18, 6): at most 12 digits before the point.
PLAIN_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?").fullmatch
# The same checks for a whole column in one regex call: cells joined with NUL, which the csv
# module never lets into a cell, so no cell can pose as two.
_PLAIN_DECIMALS = re.compile(
    r"[0-9]{1,12}(?:\.[0-9]{1,6})?(?:\x00[0-9]{1,12}(?:\.[0-9]{1,6})?)*"
).fullmatch
_PLAIN_COUNTS = re.compile(r"[0-9]{1,18}(?:\x00[0-9]{1,18})*").fullmatch


def plain_decimals(col: tuple[str, ...]) -> bool:
    return _PLAIN_DECIMALS("\x00".join(col)) is not None


def plain_counts(col: tuple[str, ...]) -> bool:
    return _PLAIN_COUNTS("\x00".join(col)) is not None


