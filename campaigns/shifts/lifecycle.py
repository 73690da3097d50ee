"""The budget shift lifecycle after a proposal (DESIGN.md), in one place to import from.

``proposed → approved | rejected | expired``; ``approved → applying → applied |
partially_applied | failed`` (the full table: :mod:`campaigns.shifts.states`). Every
transition names the version it read (optimistic concurrency: the loser of a race gets 409)
and writes an AuditEvent. A proposal whose data has changed, or whose time ran out, expires
instead of being approved (:mod:`~campaigns.shifts.decisions`). A ``partially_applied`` or
``failed`` shift is applied again, its failed items only (:mod:`~campaigns.shifts.applying`);
an applied one is undone by a rollback: a new proposal linked to it by ``rollback_of``
(:mod:`~campaigns.shifts.rollback`). Reading: :mod:`~campaigns.shifts.views`.
"""

from __future__ import annotations

from campaigns.shifts.applying import (
    APPLICABLE,
    ItemApplier,
    apply,
    retry_due,
    settle,
    start_applying,
    writeback_applier,
)
from campaigns.shifts.decisions import (
    approve,
    expire,
    expire_overdue,
    expire_unloaded,
    reject,
    stale_reason,
)
from campaigns.shifts.rollback import rollback
from campaigns.shifts.states import KEEP_BUDGET, OPEN, ItemStatus, ShiftStatus
from campaigns.shifts.views import (
    ShiftView,
    approved_total,
    approved_totals,
    change_fraction,
    data_version,
    get_shift,
    list_shifts,
    rollbacks_of,
)

SHIFT_STATUSES = tuple(s.value for s in ShiftStatus)

__all__ = [
    "APPLICABLE", "KEEP_BUDGET", "OPEN", "SHIFT_STATUSES", "ItemApplier", "ItemStatus",
    "ShiftStatus", "ShiftView", "apply", "approve", "approved_total", "approved_totals",
    "change_fraction",
    "data_version", "expire", "expire_overdue", "expire_unloaded", "get_shift", "list_shifts",
    "reject",
    "retry_due", "rollback", "rollbacks_of", "settle", "stale_reason", "start_applying",
    "writeback_applier",
]
