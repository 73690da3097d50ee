"""``PUT /campaigns/{id}/result``: a manager says what a campaign buys (it wins over sync)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CapEditor, SessionDep
from api.params import PathId
from api.schemas import catalog as s
from campaigns import lookup
from campaigns.admin.result_kinds import set_result_kind
from campaigns.models import Campaign

router = APIRouter(tags=["catalog"])


@router.put("/campaigns/{campaign_id}/result", response_model=s.CampaignPublic)
def set_campaign_result(
    session: SessionDep, user: CapEditor, campaign_id: PathId, body: s.CampaignResultUpdate,
) -> Campaign:
    """Managers (who set caps and locks) set what a campaign's budget is judged by."""
    campaign = lookup.get(session, Campaign, campaign_id, "campaign")
    return set_result_kind(session, campaign, body.result_kind, actor=user.name)
