"""The states of a budget shift and of its items, and the one table of moves between them.

Every status change goes through :func:`transition` (an ORM row) or names its allowed
sources with :func:`sources` (a conditional UPDATE, as a claim or a settle), so nothing can
move a shift or an item along an edge that is not in :data:`SHIFT_ALLOWED` or
:data:`ITEM_ALLOWED`. The API's status enums and the README's lifecycle table come from
here too (``python -m campaigns.shifts.states`` prints the table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.concurrency import versioned_update
from campaigns.errors import ConflictError, StaleVersionError
from campaigns.models import BudgetShift, ShiftItem


class ShiftStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    APPLYING = "applying"
    APPLIED = "applied"
    PARTIALLY_APPLIED = "partially_applied"
    FAILED = "failed"
    # Every item is applied or exported to a platform's bulk-edit file; the exported ones
    # await an import or sync showing their budget, or a manager's confirmation.
    EXPORTED = "exported"


class ItemStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # left as it was: its shift expired, or another item set the budget
    APPLYING = "applying"  # claimed by one request, which is calling the platform
    APPLIED = "applied"  # the platform took it: written by its connector, or seen by an import
    FAILED = "failed"
    # Written to a bulk-edit file for a network without a write connector; not yet seen on
    # the platform.
    EXPORTED = "exported"
    CONFIRMED = "confirmed"  # an exported item a manager says the platform took


SHIFT_ALLOWED: dict[ShiftStatus, set[ShiftStatus]] = {
    ShiftStatus.PROPOSED: {ShiftStatus.APPROVED, ShiftStatus.REJECTED, ShiftStatus.EXPIRED},
    # Exporting the last items (all by file) settles an approved shift without an apply.
    ShiftStatus.APPROVED: {ShiftStatus.APPLYING, ShiftStatus.EXPORTED,
                           ShiftStatus.PARTIALLY_APPLIED},
    # Applying again is how a crashed apply is taken over.
    ShiftStatus.APPLYING: {ShiftStatus.APPLYING, ShiftStatus.APPLIED,
                           ShiftStatus.PARTIALLY_APPLIED, ShiftStatus.FAILED,
                           ShiftStatus.EXPORTED},
    # Neither is a dead end: applying again sends the failed and unattempted items, and
    # exporting sends the items of networks without a write connector.
    ShiftStatus.PARTIALLY_APPLIED: {ShiftStatus.APPLYING, ShiftStatus.EXPORTED,
                                    ShiftStatus.APPLIED},
    ShiftStatus.FAILED: {ShiftStatus.APPLYING, ShiftStatus.EXPORTED,
                         ShiftStatus.PARTIALLY_APPLIED},
    # Its exported items settle (an import shows them, or a manager confirms).
    ShiftStatus.EXPORTED: {ShiftStatus.APPLIED},
    # An applied shift is undone by a new shift (``rollback_of``), not by a move of its own.
    ShiftStatus.APPLIED: set(),
    ShiftStatus.REJECTED: set(),
    ShiftStatus.EXPIRED: set(),
}

ITEM_ALLOWED: dict[ItemStatus, set[ItemStatus]] = {
    ItemStatus.PENDING: {ItemStatus.APPROVED, ItemStatus.REJECTED, ItemStatus.SKIPPED},
    ItemStatus.APPROVED: {ItemStatus.APPLYING, ItemStatus.EXPORTED},
    # A claim ends applied, failed or skipped (a duplicate budget), or is given back
    # unattempted (approved / failed, as before), or is taken over once it went stale.
    ItemStatus.APPLYING: {ItemStatus.APPLYING, ItemStatus.APPLIED, ItemStatus.FAILED,
                          ItemStatus.SKIPPED, ItemStatus.APPROVED},
    ItemStatus.FAILED: {ItemStatus.APPLYING, ItemStatus.EXPORTED},
    # Seen with its new budget by an import or sync, or confirmed by a manager: once.
    ItemStatus.EXPORTED: {ItemStatus.APPLIED, ItemStatus.CONFIRMED},
    ItemStatus.APPLIED: set(),
    ItemStatus.CONFIRMED: set(),
    ItemStatus.REJECTED: set(),
    ItemStatus.SKIPPED: set(),
}

INITIAL_SHIFT = ShiftStatus.PROPOSED
INITIAL_ITEM = ItemStatus.PENDING
# The shifts a rollback may undo.
ROLLBACK_FROM = (ShiftStatus.APPLIED, ShiftStatus.PARTIALLY_APPLIED, ShiftStatus.EXPORTED)
# Shifts still on their way to the platforms.
OPEN = (ShiftStatus.PROPOSED, ShiftStatus.APPROVED, ShiftStatus.APPLYING)
# Item statuses that leave the budget where it was.
KEEP_BUDGET = (ItemStatus.REJECTED, ItemStatus.SKIPPED)
# Item statuses whose budget is where the shift wants it.
DONE = (ItemStatus.APPLIED, ItemStatus.SKIPPED, ItemStatus.CONFIRMED)
# Item statuses whose budget is on the platform with its old value put back by a rollback.
SETTLED = (ItemStatus.APPLIED, ItemStatus.CONFIRMED)

Status = TypeVar("Status", ShiftStatus, ItemStatus)


def sources(table: Mapping[Status, set[Status]], new: Status) -> list[Status]:
    """The statuses ``new`` may be reached from, in the enum's order."""
    return [old for old in table if new in table[old]]


def allowed(table: Mapping[Status, set[Status]], old: str, new: Status) -> bool:
    return new in table[type(new)(old)]


def final_status(items: Iterable[ShiftItem]) -> ShiftStatus | None:
    """What an ``applying`` shift ends as, from its items: ``applied`` when every chosen
    (not rejected) item is done, ``exported`` when the others are exported (awaiting an
    import or a confirmation), ``failed`` when none is either, ``partially_applied``
    between; None while an item is still being applied."""
    chosen = [i.status for i in items if i.status != ItemStatus.REJECTED]
    if ItemStatus.APPLYING in chosen:
        return None
    done = sum(status in DONE for status in chosen)
    exported = sum(status == ItemStatus.EXPORTED for status in chosen)
    return final_from_counts(done, len(chosen), exported)


def final_from_counts(done: int, chosen: int, exported: int = 0) -> ShiftStatus:
    if done == chosen:
        return ShiftStatus.APPLIED
    if done + exported == chosen:
        return ShiftStatus.EXPORTED
    return ShiftStatus.PARTIALLY_APPLIED if done + exported else ShiftStatus.FAILED


@dataclass(frozen=True)
class Note:
    """The audit event a transition writes. ``after`` may be a function of the moved row,
    for a state that is only known once the move is made (its new version)."""

    actor: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | Callable[[Any], dict[str, Any]] | None = None


def require(shift: BudgetShift, *needed: ShiftStatus) -> None:
    """Refuse (409) an operation on a shift that is not in one of ``needed``."""
    if shift.status not in needed:
        raise ConflictError(
            f"shift {shift.id} is {shift.status}; this needs {' or '.join(needed)}"
        )


def require_move(shift: BudgetShift, new: ShiftStatus) -> None:
    """Refuse (409) a shift move that is not in :data:`SHIFT_ALLOWED`."""
    require(shift, *sources(SHIFT_ALLOWED, new))


def transition(
    session: Session, obj: BudgetShift | ShiftItem, new: ShiftStatus | ItemStatus, *,
    version: int | None = None, values: Mapping[str, Any] | None = None,
    note: Note | None = None,
) -> Any:
    """Move a shift or an item to ``new`` (with ``values``), refusing a move that is not in
    the table; with ``note``, record the audit event. A shift moves with a conditional
    update on the ``version`` read and its current status (the loser of a race gets 409)
    and the updated row is returned; an item is changed on the row itself."""
    if isinstance(obj, BudgetShift):
        assert isinstance(new, ShiftStatus) and version is not None
        require_move(obj, new)
        obj = _move_shift(session, obj, new, version, dict(values or {}))
    else:
        assert isinstance(new, ItemStatus)
        if not allowed(ITEM_ALLOWED, obj.status, new):
            raise ConflictError(f"shift item {obj.id} is {obj.status}; it cannot become {new}")
        for name, value in (values or {}).items():
            setattr(obj, name, value)
        obj.status = new.value  # the column holds the plain string
        session.add(obj)
    if note is not None:
        after = note.after(obj) if callable(note.after) else note.after
        audit.record(session, actor=note.actor, action=note.action,
                     entity_type="shift" if isinstance(obj, BudgetShift) else "shift_item",
                     entity_id=obj.id, before=note.before, after=after)
    return obj


def transition_items(session: Session, items: Sequence[ShiftItem], new: ItemStatus) -> None:
    """Move many loaded items to ``new`` at once, each checked against the table like
    :func:`transition`: one UPDATE per chunk of ids instead of an ORM flush per row (a
    superseded proposal's 10,000 items took seconds of every ``optimize``). The loaded rows
    show the new status without being written again."""
    for item in items:
        if not allowed(ITEM_ALLOWED, item.status, new):
            raise ConflictError(f"shift item {item.id} is {item.status}; it cannot become {new}")
    if not items:
        return
    session.flush()  # every item has its id, and earlier changes are written first
    ids = [item.id for item in items]
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(ShiftItem).where(col(ShiftItem.id).in_(ids[start:start + _CHUNK]))
            .values(status=new.value).execution_options(synchronize_session=False))
    for item in items:
        set_committed_value(item, "status", new.value)


_CHUNK = 5_000  # ids per statement: within every driver's parameter limit


def conditional_move(
    session: Session, model: type[BudgetShift] | type[ShiftItem], ids: Sequence[int],
    new: ShiftStatus | ItemStatus, *, where: Any = None, values: Mapping[str, Any] | None = None,
) -> list[int]:
    """``UPDATE ... SET status = new WHERE id IN ids AND status IN <sources of new> [AND
    where] RETURNING id``: the rows that moved. The database decides, so of concurrent
    requests exactly one moves each row (an item's claim, a shift's settling)."""
    table: Any = model
    olds = ([old.value for old in sources(SHIFT_ALLOWED, new)] if isinstance(new, ShiftStatus)
            else [old.value for old in sources(ITEM_ALLOWED, new)])
    stmt = (
        update(model)
        .where(table.id.in_(list(ids)), table.status.in_(olds))
        .values(**(values or {}), status=new.value)
        .returning(table.id)
        .execution_options(synchronize_session=False)
    )
    if where is not None:
        stmt = stmt.where(where)
    return list(session.execute(stmt).scalars().all())


def _move_shift(session: Session, shift: BudgetShift, new: ShiftStatus, version: int,
                values: dict[str, Any]) -> BudgetShift:
    assert shift.id is not None
    try:
        return versioned_update(
            session, BudgetShift, shift.id, version,
            {**values, "status": new.value, "updated_at": values.get("updated_at", utcnow())},
            what="shift", extra_where=BudgetShift.status == shift.status,
        )
    except OperationalError as e:
        # SQLite refuses to upgrade a read snapshot another writer has overtaken
        # (SQLITE_BUSY_SNAPSHOT): that is exactly a lost race.
        raise StaleVersionError(
            f"shift {shift.id} was changed by someone else meanwhile; reload and retry"
        ) from e


def lifecycle_table() -> str:
    """The README's lifecycle section: both tables as Markdown."""
    lines = []
    for title, table in (("Shift", SHIFT_ALLOWED), ("Item", ITEM_ALLOWED)):
        lines += [f"| {title} status | may become |", "|---|---|"]
        for old, targets in table.items():
            to = ", ".join(f"`{t}`" for t in type(old) if t in targets) or "— (final)"
            lines.append(f"| `{old}` | {to} |")
        lines.append("")
    return "\n".join(lines[:-1]) + "\n"


if __name__ == "__main__":
    print(lifecycle_table(), end="")
