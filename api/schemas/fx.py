"""Exchange rates into the reporting currency, one per day and currency pair."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Currency, Day, Public, decimal_schema


class FxRateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day
    currency: Currency
    quote: Currency
    rate: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=10),
                    decimal_schema(10, 10, positive=True)]


class FxRatesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: list[FxRateCreate] = Field(min_length=1, max_length=10_000)


class FxRatePublic(Public):
    date: dt.date
    currency: str
    quote: str
    rate: Decimal


class FxRatesPublic(Public):
    data: list[FxRatePublic]
    count: int
