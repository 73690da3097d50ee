"""The FX rates a shift is measured with: those its proposal was optimised with.

A shift's items are in their accounts' currencies; how much of the budget it moves only
means something in one currency, the portfolio's reporting currency, converted at the
stored daily rate of the day the shift was proposed (the rate `optimize` used that day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from sqlmodel import Session

from campaigns.admin.fx import FxTable
from campaigns.columns import as_utc
from campaigns.models import BudgetShift, ShiftItem


def reporting_rates(
    session: Session, shift: BudgetShift, items: Iterable[ShiftItem]
) -> dict[str, Decimal]:
    """currency -> rate into the shift's reporting currency; raises FxRateMissingError
    (naming the currency and day) when a rate is not stored."""
    created = as_utc(shift.created_at) or dt.datetime.now(dt.UTC)
    day = created.date()
    currencies = {i.currency for i in items}
    table = FxTable.load(session, shift.currency, currencies, day, day)
    return {c: table.rate(c, day) for c in currencies}
