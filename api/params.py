"""Query and path parameters shared by the routes (bounded, so bad input is a 422, not a 500)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import AfterValidator, BeforeValidator

from campaigns.lookup import Page

MAX_ID = 2**31 - 1

Id = Annotated[int, Query(ge=1, le=MAX_ID)]
Name = Annotated[str | None, Query(max_length=100)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
# JSON Schema has no minimum for dates: the bounds are stated as a pattern (which generators
# such as schemathesis honour) and as formatMinimum/formatMaximum for readers.
YEARS = r"(20\d\d|2100)"
DATE_PATTERN = YEARS + r"-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
DAY_SCHEMA = {"pattern": f"^{DATE_PATTERN}$", "formatMinimum": "2000-01-01",
              "formatMaximum": "2100-12-31"}
MOMENT_SCHEMA = {"pattern": r"^20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T",
                 "formatMinimum": "2000-01-01T00:00:00Z",
                 "formatMaximum": "2100-12-31T00:00:00Z"}
Day = Annotated[dt.date, Query(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra=DAY_SCHEMA)]
OptionalDay = Annotated[dt.date | None,
                        Query(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra=DAY_SCHEMA)]
# A month as ``YYYY-MM`` (or any day in it, ``YYYY-MM-DD``, as before): the first of that month.
MONTH_PATTERN = YEARS + r"-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?"
MONTH_SCHEMA = {"pattern": f"^{MONTH_PATTERN}$", "formatMinimum": "2000-01-01",
                "formatMaximum": "2100-12-31", "examples": ["2026-11"]}


def _month(value: object) -> object:
    """``YYYY-MM`` read as its first day; anything else is left for the date parser (so
    ``2026-13`` or ``2026-02-30`` is a 422 naming the parameter)."""
    if isinstance(value, str) and len(value) == 7 and value[4] == "-":
        return f"{value}-01"
    return value


def _first_of_month(value: dt.date | None) -> dt.date | None:
    return None if value is None else value.replace(day=1)


OptionalMonth = Annotated[
    dt.date | None, BeforeValidator(_month), AfterValidator(_first_of_month),
    Query(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra=MONTH_SCHEMA,
          description="a month, `YYYY-MM` (a day in it, `YYYY-MM-DD`, is read as its month)"),
]
Month = Annotated[
    dt.date, BeforeValidator(_month),
    Query(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra=MONTH_SCHEMA,
          description="a month, `YYYY-MM` (or a day in it, `YYYY-MM-DD`)"),
]
Moment = Annotated[
    dt.datetime | None,
    Query(ge=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), le=dt.datetime(2100, 12, 31, tzinfo=dt.UTC),
          json_schema_extra=MOMENT_SCHEMA),
]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page_params)]


