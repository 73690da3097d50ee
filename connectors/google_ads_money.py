"""Google Ads money: ``*_micros`` integers (10^6 per unit), written back as a multiple of the
currency's billable unit."""

from __future__ import annotations

from decimal import Decimal

from connectors.currencies import ISO_4217

MICROS = 1_000_000
# Google's billable unit where it is coarser than the ISO minor unit
# (developers.google.com/google-ads/api/data/codes-formats#currency-codes); other currencies
# bill in their ISO minor unit. The ``billable_units`` option adds or corrects entries.
GOOGLE_BILLABLE_UNIT_MICROS = {"HUF": MICROS, "TWD": MICROS, "IDR": MICROS}


def billable_unit_micros(currency: str, overrides: dict[str, int] | None = None) -> int:
    """The smallest amount Google accepts for ``currency``, in micros (USD: 10,000)."""
    code = currency.upper()
    if overrides and code in overrides:
        return int(overrides[code])
    if code in GOOGLE_BILLABLE_UNIT_MICROS:
        return GOOGLE_BILLABLE_UNIT_MICROS[code]
    return MICROS // 10 ** ISO_4217.get(code, 2)


def to_micros(amount: Decimal, currency: str, overrides: dict[str, int] | None = None) -> int:
    """Round down to a multiple of the billable unit: never write more than was approved."""
    unit = billable_unit_micros(currency, overrides)
    micros = int(Decimal(amount) * MICROS)
    return micros - micros % unit


def from_micros(micros: int) -> Decimal:
    return Decimal(int(micros)) / MICROS
