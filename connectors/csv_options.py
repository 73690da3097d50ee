"""``[[sources]] kind = "csv"``: the options of the accounts a CSV import (of a platform's
export file) creates, checked when the config loads like every connector kind's."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from connectors.settings import ConnectorOptions


class CsvOptions(ConnectorOptions):
    networks: list[str] | None = Field(
        None, description="the networks whose files this source's accounts come from; omit: any"
    )
    timezone: str = Field("UTC", description="time zone of the accounts an import creates")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"not an IANA time zone: {v!r}") from e
        return v
