"""Meta's money: budgets in the currency's minor unit, with offsets Meta sets per currency.

Budgets arrive as strings in the currency's minor unit, whose offset Meta sets per currency
(100 for EUR/USD, 1 for JPY, KRW, HUF...). They become Decimal in the account currency here.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

# Meta's own offsets (developers.facebook.com/docs/marketing-api/currencies): these currencies
# have offset 1 on Meta even where ISO 4217 gives them decimals (HUF, TWD, COP, CRC, IDR).
META_OFFSET_ONE = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)


def currency_offset(currency: str, overrides: dict[str, int] | None = None) -> int:
    """How many minor units Meta counts in one unit of ``currency``."""
    code = currency.upper()
    if overrides and code in overrides:
        return int(overrides[code])
    return 1 if code in META_OFFSET_ONE else 100


def from_minor(
    value: Any, currency: str, overrides: dict[str, int] | None = None
) -> Decimal | None:
    """A Meta budget string ("1050") as Decimal in the currency (10.50 EUR, 1050 JPY)."""
    if value in (None, "", "0", 0):
        return None
    return Decimal(str(value)) / currency_offset(currency, overrides)


def to_minor(amount: Decimal, currency: str, overrides: dict[str, int] | None = None) -> int:
    """Round down to the minor unit Meta accepts: never write more than was approved."""
    offset = currency_offset(currency, overrides)
    return int((Decimal(amount) * offset).to_integral_value(rounding=ROUND_DOWN))
