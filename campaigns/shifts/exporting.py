"""Apply by file: an approved shift's items on networks without a write connector, written
as each platform's bulk-edit file and marked ``exported`` (not ``applied``: nobody has seen
the platform take them yet). :mod:`campaigns.shifts.settling` settles them later.

Exporting again gives the same file for the items still awaiting and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.auth import Principal
from campaigns.columns import utcnow
from campaigns.errors import ConflictError
from campaigns.models import Campaign, ShiftItem
from campaigns.shifts.bulk_file import BudgetRow, render
from campaigns.shifts.delivery import Delivery, FileItem, file_items, ids_text, networks_of
from campaigns.shifts.settling import reconcile
from campaigns.shifts.states import (
    SHIFT_ALLOWED,
    ItemStatus,
    ShiftStatus,
    conditional_move,
    require,
    sources,
)
from campaigns.shifts.views import ShiftView, get_shift
from connectors.exports import Format

# The shifts whose items may be exported (again, for an exported one).
EXPORTABLE_FROM = (*sources(SHIFT_ALLOWED, ShiftStatus.EXPORTED), ShiftStatus.EXPORTED)
# Items that go into the file: approved ones, failed ones (tried on a connector before
# there was a file), and exported ones (the same file again).
TO_EXPORT = (ItemStatus.APPROVED, ItemStatus.FAILED, ItemStatus.EXPORTED)


@dataclass(frozen=True)
class ExportFile:
    network: str
    content: bytes
    item_ids: list[int]

    def name(self, shift_id: int) -> str:
        return f"shift-{shift_id}-{self.network}.csv"


@dataclass
class Export:
    view: ShiftView
    files: list[ExportFile] = field(default_factory=list)
    exported: list[int] = field(default_factory=list)  # items marked exported now


def export(
    session: Session, shift_id: int, *, user: Principal, delivery: Delivery,
    network: str | None = None, formats: Mapping[str, Format] | None = None,
    now: dt.datetime | None = None,
) -> Export:
    """The files of the shift's by-file items (of ``network`` only, if given), one per
    network; approved (or failed) items become ``exported``."""
    now = now or utcnow()
    view = get_shift(session, shift_id)
    require(view.shift, *EXPORTABLE_FROM)
    found = _choose(session, view, delivery, network)
    out = Export(view)
    for f in found:
        item = f.item
        assert item.id is not None
        if item.status == ItemStatus.EXPORTED:
            continue
        moved = conditional_move(
            session, ShiftItem, [item.id], ItemStatus.EXPORTED,
            where=col(ShiftItem.status).in_([ItemStatus.APPROVED.value,
                                             ItemStatus.FAILED.value]),
            values={"exported_at": now, "error": None, "next_attempt_at": None})
        if moved:
            out.exported.append(item.id)
    if out.exported:
        audit.record(session, actor=user.name, action="shift.export", entity_type="shift",
                     entity_id=shift_id, after={
                         "items": out.exported, "networks": networks_of(
                             f for f in found if f.item.id in out.exported)})
    for net in networks_of(found):
        part = [f for f in found if f.account.network == net]
        rows = [BudgetRow(f.account.external_id, f.campaign.external_id, f.campaign.name,
                          f.item.currency, f.item.new_budget) for f in part]
        out.files.append(ExportFile(net, render(net, rows, formats),
                                    sorted(f.item.id for f in part if f.item.id is not None)))
    out.view = reconcile(session, shift_id, actor=user.name, now=now)
    return out


def _choose(session: Session, view: ShiftView, delivery: Delivery, network: str | None
            ) -> list[FileItem]:
    shift_id = view.shift.id
    candidates = [i for i in view.items if i.status in TO_EXPORT]
    by_file = file_items(session, candidates, delivery)
    found = sorted(by_file.values(), key=lambda f: f.item.id or 0)
    if network is not None:
        chosen = [f for f in found if f.account.network == network]
        if not chosen:
            raise ConflictError(_nothing(session, view, delivery, network, found))
        found = chosen
    if not found:
        raise ConflictError(_nothing(session, view, delivery, None, found))
    levels = [f for f in found if f.item.level != "campaign"]
    if levels:
        raise ConflictError(
            f"items {ids_text([f.item.id for f in levels])} of shift {shift_id} set "
            f"{levels[0].item.level} budgets; a bulk-edit file carries campaign budgets only")
    return found


def _nothing(session: Session, view: ShiftView, delivery: Delivery, network: str | None,
             others: list[FileItem]) -> str:
    """Why there is nothing to export, naming what there is instead."""
    shift_id = view.shift.id
    on_file = file_items(session, view.items, delivery)
    connector = [i for i in view.items if i.id not in on_file]
    where = f" on {network}" if network else " on a network without a write connector"
    text = f"shift {shift_id} has no approved item{where} to export"
    if network and any(_network(session, i) == network for i in connector):
        text += f"; {network} items are applied by its connector: `budgetpilot shifts apply " \
                f"{shift_id}`"
    elif others:
        text += f" (items by file are on {', '.join(networks_of(others))})"
    settled = [f.item.id for f in on_file.values()
               if f.item.status in (ItemStatus.APPLIED, ItemStatus.CONFIRMED)
               and (network is None or f.account.network == network)]
    if settled:
        text += f"; items {ids_text(settled)} are already settled"
    return text


def _network(session: Session, item: ShiftItem) -> str:
    campaign = session.get(Campaign, item.campaign_id)
    return "" if campaign is None else campaign.network
