"""The campaign page's reads: its fitted response curve and the audit trail of its budget."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, SessionDep, SettingsDep
from api.params import PathId
from api.schemas import campaign_page as s
from campaigns.admin.auth import PERMISSIONS, Action
from campaigns.ingest.budget_history import BudgetHistory, budget_history
from campaigns.optimization.curve_view import CampaignCurve, campaign_curve

router = APIRouter(tags=["catalog"])


@router.get("/campaigns/{campaign_id}/curve", response_model=s.CampaignCurvePublic)
def get_curve(session: SessionDep, settings: SettingsDep, _: Reader,
              campaign_id: PathId) -> CampaignCurve:
    """The latest run's response curve for the campaign (80% band), its observed days and
    its current and newest proposed budget."""
    return campaign_curve(session, settings, campaign_id)


@router.get("/campaigns/{campaign_id}/budget-history", response_model=s.BudgetHistoryPublic)
def get_budget_history(session: SessionDep, user: Reader, campaign_id: PathId) -> BudgetHistory:
    """Every shift item that moved (or would move) the campaign's budget; with the shifts'
    audit events for callers that may read the audit log (else ``events`` is null)."""
    may_audit = user.role in PERMISSIONS[Action.read_audit]
    return budget_history(session, campaign_id, with_events=may_audit)
