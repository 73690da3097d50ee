"""The scope keys plans, caps and locks may name, with their names (the pickers' lists)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScopePublic(BaseModel):
    scope: str = Field(description="network | account | campaign")
    key: str = Field(description="'meta', 'meta:act_1' or 'meta:act_1:123'")
    name: str = Field(description="the network, account or campaign name (its id when unnamed)")
    network: str
    account_key: str | None = Field(None, description="the account (accounts and campaigns)")
    account_name: str | None = None
    status: str | None = Field(None, description="the platform status (accounts, campaigns)")


class ScopesPublic(BaseModel):
    portfolio: str
    reporting_currency: str = Field(description="the currency of the portfolio's plans and caps")
    data: list[ScopePublic]
    count: int
