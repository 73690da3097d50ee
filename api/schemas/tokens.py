"""API tokens and the principal a request acts as."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.base import Public


class PrincipalPublic(Public):
    name: str
    role: str
    portfolios: list[str] | None = Field(None, description="null: every portfolio")
    actions: list[str] = Field(default_factory=list, description="what this role may do "
                               "(the dashboard shows only the buttons for these)")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Literal["viewer", "finance", "manager", "admin", "service"]
    portfolios: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=100,
        description="limit the token to these portfolios (omitted: every portfolio; an admin "
        "token is always global)")


class TokenPublic(Public):
    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    portfolios: list[str] | None = Field(None, description="null: every portfolio")


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; store it now")


class TokensPublic(Public):
    data: list[TokenPublic]
    count: int
