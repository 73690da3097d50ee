"""Which items go to a platform through its connector and which by file.

An account goes by file when its source has no write connector: the source is configured
with a kind that is not in :data:`connectors.registry.CONNECTORS` (``kind = "csv"``), or it
is ``csv``, the source a CSV import gives its accounts when the config names none. That is
every account a CSV import created — TikTok, Snapchat, X, LinkedIn, VK or any network an
``[[imports]]`` mapping adds: we have no way to write its budget, so its approved items are
exported as the platform's bulk-edit file (:mod:`campaigns.shifts.exporting`) and never sent
to an applier. Any other account goes to its connector as before (a source missing from the
config fails there, naming it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.models import AdAccount, Campaign, ShiftItem
from connectors.registry import CONNECTORS

# The source name a CSV import gives accounts when the config has no csv source.
IMPORTED = "csv"


@dataclass(frozen=True)
class Delivery:
    """The source names whose accounts have no write connector."""

    file_sources: frozenset[str]

    @classmethod
    def of(cls, settings: Any) -> Delivery:
        """From the settings the caller loaded."""
        sources = list(getattr(settings, "sources", []))
        writable = {s.name for s in sources if s.kind in CONNECTORS}
        names = {IMPORTED} | {s.name for s in sources if s.kind not in CONNECTORS}
        return cls(frozenset(names - writable))

    def by_file(self, account: AdAccount) -> bool:
        return account.source in self.file_sources


@dataclass(frozen=True)
class FileItem:
    """An item whose budget goes to its platform by file, with what the file needs."""

    item: ShiftItem
    campaign: Campaign
    account: AdAccount


def file_items(session: Session, items: Iterable[ShiftItem], delivery: Delivery
               ) -> dict[int, FileItem]:
    """Item id -> the item, campaign and account, for the items that go by file."""
    by_id = {i.id: i for i in items if i.id is not None}
    if not by_id:
        return {}
    rows = session.execute(
        select(col(ShiftItem.id), Campaign, AdAccount)
        .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(col(ShiftItem.id).in_(list(by_id)))
    ).all()
    return {item_id: FileItem(by_id[item_id], campaign, account)
            for item_id, campaign, account in rows if delivery.by_file(account)}


def networks_of(found: Iterable[FileItem]) -> list[str]:
    return sorted({f.account.network for f in found})


def ids_text(ids: Sequence[int | None]) -> str:
    return ", ".join(str(i) for i in sorted(i for i in ids if i is not None))
