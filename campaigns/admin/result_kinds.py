"""A manager's word on what a campaign buys; it wins over what sync reads, and is audited.

Sync keeps ``Campaign.result_kind`` in step with the platform's objective; this sets
``result_kind_user``, which sync never touches. Clearing it (None) lets the synced result
count again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.errors import NotFoundError, ValidationError
from campaigns.lookup import get
from campaigns.models import AdAccount, Campaign
from connectors.result_kinds import RESULT_KINDS


def check_kind(kind: str | None) -> str | None:
    """The kind, or None to clear; a 422 naming the kinds for anything else."""
    if kind is None:
        return None
    kind = kind.strip().lower()
    if kind not in RESULT_KINDS:
        raise ValidationError(
            f"unknown result {kind!r}; use one of {', '.join(RESULT_KINDS)} (or clear it to "
            "count the synced one)"
        )
    return kind


def find_campaign(session: Session, key: str) -> Campaign:
    """A campaign by its id or its key ``network:account:campaign`` (``meta:act_1:123``)."""
    key = key.strip()
    if key.isdigit():
        return get(session, Campaign, int(key), "campaign")
    parts = key.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValidationError(
            f"a campaign is named by its id or 'network:account:campaign' "
            f"(like 'meta:act_1:123'), got {key!r}"
        )
    found = session.scalars(
        select(Campaign).join(AdAccount, col(AdAccount.id) == col(Campaign.account_id)).where(
            col(AdAccount.network) == parts[0], col(AdAccount.external_id) == parts[1],
            col(Campaign.external_id) == parts[2],
        )
    ).first()
    if found is None:
        raise NotFoundError(f"no campaign {key!r}")
    return found


def set_result_kind(session: Session, campaign: Campaign, kind: str | None, *,
                    actor: str) -> Campaign:
    """Set (or with None clear) the manager's result for ``campaign``; audited."""
    kind = check_kind(kind)
    before = {"result_kind_user": campaign.result_kind_user,
              "result_kind": campaign.result_kind}
    if campaign.result_kind_user == kind:
        return campaign
    campaign.result_kind_user = kind
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    audit.record(session, actor=actor, action="campaign.set_result", entity_type="campaign",
                 entity_id=campaign.id, before=before,
                 after={"result_kind_user": kind, "result_kind": campaign.result_kind})
    return campaign
