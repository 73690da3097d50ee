"""Column helpers shared by the tables: money as ``Numeric(18, 6)`` Decimals, aware UTC
timestamps, JSON, and counts a platform may leave unreported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Numeric
from sqlmodel import Field

MONEY = Numeric(18, 6, asdecimal=True)
RATE = Numeric(20, 10, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def money_field(*, nullable: bool = False, default: Any = ...) -> Any:
    if default is ...:
        default = None if nullable else Decimal(0)
    return Field(default=default, sa_column=Column(MONEY, nullable=nullable))


def social_field() -> Any:
    """A count a platform may not report: NULL then, never a made-up 0."""
    return Field(default=None, sa_column=Column(BigInteger, nullable=True))


def ts_field(*, nullable: bool = False, index: bool = False) -> Any:
    column = Column(DateTime(timezone=True), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


def json_field(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def as_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite hands them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
