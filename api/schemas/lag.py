"""The learnt completion curves: how much of a day's conversions is known at each age."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

SHARE = ("the expected share of a day's final conversions reported when the day is this "
         "many days old (\"1\": yesterday read today), by age")


class LagCurve(BaseModel):
    network: str
    account: str | None = Field(description="the account's external id; null: the network's "
                                "curve (what accounts with too few observations read)")
    learnt: bool = Field(description="false: the network's default (no restatement seen)")
    days: int = Field(description="campaign-days seen developing (read at two ages or more)")
    observations: int = Field(description="observations kept of those days")
    share: dict[str, float] = Field(description=SHARE)
    share_sd: dict[str, float] = Field(description="the uncertainty (sd) of each share")


class LagReport(BaseModel):
    portfolio: str
    as_of: dt.date
    horizon_days: int = Field(description="a day older than this counts as complete")
    curves: list[LagCurve]

    @classmethod
    def of(cls, portfolio: str, as_of: dt.date, lag: dict[str, Any]) -> LagReport:
        return cls(portfolio=portfolio, as_of=as_of, horizon_days=lag["horizon_days"],
                   curves=[LagCurve(**c) for c in lag["curves"]])
