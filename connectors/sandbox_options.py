"""``[[sources]] kind = "sandbox"``: the simulated platform's options, checked when the config
loads."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from connectors.settings import ConnectorOptions, Identifier, Rate


def _iso(value: object) -> object:
    # Python's own reading of an ISO date or date-time, as the option was always read.
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


class SandboxOptions(ConnectorOptions):
    seed: int = Field(7, description="same seed, same numbers, to the cent")
    campaigns_per_account: int = Field(6, ge=0)
    accounts: int | None = Field(None, ge=1, description="default: the five built-in accounts")
    first_account: int = Field(
        0, ge=0, description="its accounts are the sandbox's from this one on (several "
        "sandbox sources of disjoint accounts: one per client of an agency)")
    app: Identifier | None = Field(
        None, description="the app whose calls rate_limit_app counts (default: this source): "
        "sources naming one app share its limit, as a platform counts an app's calls")
    state_path: str | None = Field(
        None, description="budgets written back survive between runs in this file"
    )
    now: Annotated[dt.datetime | None, BeforeValidator(_iso)] = Field(
        None, description="a fixed platform clock, in UTC"
    )
    fail_accounts: list[Identifier] = Field(
        default_factory=list, description="accounts whose calls fail (tests, demos)"
    )
    latency_ms: float = Field(0, ge=0, description="each platform call waits this long")
    stuck_reports: list[Identifier] = Field(
        default_factory=list, description="accounts whose async insights report never finishes "
        "(Meta's job stays at 'Job Running'; tests)")
    period_reach: bool = Field(
        False, description="its Meta accounts answer period reach queries (people reached over "
        "a period, each once), as Meta's insights do")
    report_seconds: tuple[float, float] | None = Field(
        None, description="each metrics window waits for an async report first: seconds, "
        "drawn per seed, account and window between [min, max] (benchmarks)")
    rate_limit_app: Rate | None = Field(
        None, description='calls per window for the whole source, shared by workers ("600/minute")')
    rate_limit_account: Rate | None = Field(
        None, description="calls per window per account, shared by workers")

    @model_validator(mode="after")
    def _report_range(self) -> SandboxOptions:
        if self.report_seconds is not None:
            low, high = self.report_seconds
            if low < 0 or high < low:
                raise ValueError(f"report_seconds: [{low:g}, {high:g}] is not a range of "
                                 "seconds (write [min, max], 0 <= min <= max)")
        return self
