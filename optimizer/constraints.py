"""The limits managers and finance set, as small immutable objects.

Currencies: unit-scope amounts are in the unit's own account currency (that is how a
manager sees a campaign); account-, network- and total-scope amounts are in the reporting
currency, because they add up units of several currencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["unit", "account", "network"]
SCOPES: tuple[Scope, ...] = ("unit", "account", "network")


@dataclass(frozen=True)
class SpendLimit:
    """Daily min/max spend and max change per run for one unit, account or network.

    `key` is the unit id, the account id or the network name. The most specific
    `max_change` wins (unit over account over network over the run default).
    """

    scope: Scope
    key: str
    min_daily: float | None = None
    max_daily: float | None = None
    max_change: float | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}")
        for name in ("min_daily", "max_daily", "max_change"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Lock:
    """Hold a unit, every unit of an account, or every unit of a network at its current budget.

    A manager's lock has no `reason`; a lock the service sets for a rule (an edit limit,
    Meta's learning phase) says why in `reason` and names the rule in `limit`, which is the
    unit's binding limit. A manager's lock wins over a rule's.
    """

    scope: Scope
    key: str
    reason: str = ""
    limit: str = "lock"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}")


@dataclass(frozen=True)
class Limits:
    """Everything that bounds one run.

    `total_budget` is the daily total in the reporting currency (None: the sum of current
    budgets). `max_change` is the default fraction a unit may move per run. `target_cpa`
    (reporting currency per conversion) and `min_roas` (revenue per unit of spend) stop
    spend where the *marginal* CPA rises above / marginal ROAS falls below them.
    """

    total_budget: float | None = None
    max_change: float = 0.2
    spend_limits: tuple[SpendLimit, ...] = field(default=())
    locks: tuple[Lock, ...] = field(default=())
    target_cpa: float | None = None
    min_roas: float | None = None
    # Account and network ranges kept as far as the other limits allow (a plan's pace):
    # narrowed to what the scope's units can reach this run, their minimums cut by one
    # share where they add up past the total (`scope_targets`); never a conflict.
    targets: tuple[SpendLimit, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_change < 0:
            raise ValueError("max_change must be >= 0")
        if self.total_budget is not None and self.total_budget < 0:
            raise ValueError("total_budget must be >= 0")
        if self.target_cpa is not None and self.target_cpa <= 0:
            raise ValueError("target_cpa must be > 0")
        if self.min_roas is not None and self.min_roas <= 0:
            raise ValueError("min_roas must be > 0")

    def for_scope(self, scope: Scope) -> dict[str, SpendLimit]:
        return {limit.key: limit for limit in self.spend_limits if limit.scope == scope}

    def locked(self, scope: Scope) -> set[str]:
        return {lock.key for lock in self.locks if lock.scope == scope}

    def unit_holds(self) -> dict[str, Lock]:
        """Unit locks by unit id, a manager's over a rule's."""
        held: dict[str, Lock] = {}
        for lock in self.locks:
            if lock.scope == "unit" and (lock.key not in held or not lock.reason):
                held[lock.key] = lock
        return held
