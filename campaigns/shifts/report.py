"""What one write-back run did with each item: the answer of an apply (and of a dry run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from campaigns.shifts.states import ShiftStatus, final_from_counts


@dataclass(frozen=True)
class ItemOutcome:
    item_id: int
    target: str  # level:external id
    # applied | already | skipped | failed | not_attempted | busy | would_apply, and for
    # items of networks without a write connector: by_file (to export) | exported (awaiting)
    outcome: str
    new_budget: Decimal
    platform_budget: Decimal | None = None  # what the platform held before
    error: str | None = None


@dataclass
class ApplyReport:
    shift_id: int
    dry_run: bool = False
    applied: int = 0  # written to the platform now (dry run: would be written)
    already: int = 0  # the platform already held the new budget: nothing written
    failed: int = 0
    not_attempted: int = 0  # left for a later attempt (account stopped, or not due yet)
    skipped: int = 0  # another item of the shift already set the same budget
    busy: int = 0  # claimed by another request that is applying them right now
    claimed: int = 0  # items this request won
    by_file: int = 0  # on a network without a write connector: to export (`shifts export`)
    exported: int = 0  # exported, awaiting an import showing them or a confirmation
    errors: dict[int, str] = field(default_factory=dict)  # item id -> error
    outcomes: list[ItemOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.applied + self.already + self.skipped

    @property
    def status(self) -> ShiftStatus:
        """What the shift becomes if this run's items were all of it."""
        return final_from_counts(self.done, len(self.outcomes), self.exported)

    def add(self, outcome: ItemOutcome) -> None:
        self.outcomes.append(outcome)
        name = "applied" if outcome.outcome == "would_apply" else outcome.outcome
        setattr(self, name, getattr(self, name) + 1)
        if outcome.error is not None:
            self.errors[outcome.item_id] = outcome.error
