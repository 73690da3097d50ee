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


def test_an_accounts_budgets_are_read_in_one_call_and_written_in_two_each(tmp_path) -> None:
    """As the platforms' listings answer (connectors.base.BudgetListing): the benchmark's
    write-back pays one call per account to read, then a write and a read-back per budget."""
    sb = SandboxConnector(now=NOW, state_path=tmp_path / "state.json")
    own = [c for c in sb.list_campaigns("act_1001") if c.budget_level == "campaign"]
    targets = [BudgetTarget("act_1001", "campaign", str(c.budget_external_id), "EUR")
               for c in own[:4]]
    targets.append(BudgetTarget("act_1001", "campaign", "no-such-budget", "EUR"))
    before = sb.calls
    read = sb.read_budgets(targets)
    assert sb.calls - before == 1
    assert read[:4] == [sb.read_budget(t) for t in targets[:4]]
    assert isinstance(read[4], ConnectorError) and "no-such-budget" in str(read[4])
    before = sb.calls
    for target, current in zip(targets[:4], read[:4], strict=True):
        assert isinstance(current, Decimal)
        result = sb.apply_budget(target, current + 1, current=current)
        assert result.changed and result.daily_budget == current + 1
    assert sb.calls - before == 2 * 4


def test_an_accounts_writes_are_read_back_together(tmp_path) -> None:
    sb = SandboxConnector(now=NOW, state_path=tmp_path / "state.json")
    own = [c for c in sb.list_campaigns("act_1001") if c.budget_level == "campaign"][:4]
    targets = [BudgetTarget("act_1001", "campaign", str(c.budget_external_id), "EUR")
               for c in own]
    read = sb.read_budgets(targets)
    assert all(isinstance(r, Decimal) for r in read)
    before = sb.calls
    changes = [(t, r + 2) for t, r in zip(targets, read, strict=True)]  # type: ignore[operator]
    outcomes = sb.apply_budgets(changes, current=read)  # type: ignore[arg-type]
    assert sb.calls - before == 4 + 1  # a write each, then one read-back for the account
    assert [o.daily_budget for o in outcomes] == [r + 2 for r in read]  # type: ignore
    assert sb.read_budgets(targets) == [r + 2 for r in read]  # type: ignore[operator]
