"""The sandbox's Google accounts keep budgets as Google does: a campaign's own budget has an
id of its own, so code that confuses the two ids fails on the sandbox too."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.base import BudgetTarget, ConnectorError
from connectors.sandbox import SandboxConnector

NOW = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)


def test_google_campaign_budgets_have_ids_of_their_own(tmp_path) -> None:
    sb = SandboxConnector(now=NOW, state_path=tmp_path / "state.json")
    campaigns = sb.list_campaigns("1234567890")
    own = [c for c in campaigns if c.budget_level == "campaign"]
    assert own and all(c.budget_external_id != c.external_id for c in own)
    c = own[0]
    assert c.budget_external_id is not None
    target = BudgetTarget("1234567890", "campaign", c.budget_external_id, "USD")
    assert sb.apply_budget(target, Decimal("77.70")).daily_budget == Decimal("77.70")
    again = SandboxConnector(now=NOW, state_path=tmp_path / "state.json")
    assert again.read_budget(target) == Decimal("77.70")
    with pytest.raises(ConnectorError):
        sb.read_budget(BudgetTarget("1234567890", "campaign", c.external_id, "USD"))
    meta = sb.list_campaigns("act_1001")
    assert all(m.budget_external_id == m.external_id for m in meta if m.budget_level == "campaign")
