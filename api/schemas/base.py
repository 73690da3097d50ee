"""What every schema module shares: the `Public` base (rows read from the database), exact
amounts (`Money`, rendered as a string so that it stays exact), days, currencies, and text
that is checked for secrets on its way out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from api.params import DAY_SCHEMA, YEARS
from connectors.redact import redact, redact_data

Day = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31),
                               json_schema_extra=DAY_SCHEMA)]
FirstOfMonth = Annotated[dt.date, Field(
    ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31),
    json_schema_extra={**DAY_SCHEMA, "pattern": f"^{YEARS}-(0[1-9]|1[0-2])-01$"})]


def decimal_schema(whole: int, places: int, *, positive: bool = False) -> WithJsonSchema:
    """What an exact amount looks like on the wire: a decimal string (``"12.50"``) or a
    whole number, with the digits the validators allow (floats are accepted but not promised:
    a binary fraction rarely has the few decimal places an amount may carry)."""
    text = (rf"^([1-9]\d{{0,{whole - 1}}}(\.\d{{1,{places}}})?|0\.\d{{0,{places - 1}}}[1-9])$"
            if positive else rf"^\d{{1,{whole}}}(\.\d{{1,{places}}})?$")
    return WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": text},
        {"type": "integer", "minimum": int(positive), "maximum": 10**whole - 1},
    ]}, mode="validation")


Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6), decimal_schema(12, 6)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")]
# Text that may quote a platform failure (errors, alert messages, audit details): checked for
# secrets once more on its way out, whatever was stored before redaction existed.
Redacted = Annotated[str, AfterValidator(redact)]
RedactedData = Annotated[dict[str, Any], AfterValidator(redact_data)]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        """SQLite hands timestamps back naive; they are UTC (RFC 3339 wants the offset)."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value
