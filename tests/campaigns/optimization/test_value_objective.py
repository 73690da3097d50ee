"""One proposal for a portfolio of conversion and reach campaigns, its moves following what
the portfolio says each result is worth; a manager's result wins over the synced one.
Stored history from known curves, explicit clocks; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.admin.result_kinds import set_result_kind
from campaigns.config import Settings
from campaigns.errors import ValidationError
from campaigns.ingest.store import upsert_campaigns
from campaigns.models import AdAccount, Campaign, DailyMetric, OptimizationRun
from campaigns.optimization.proposals import propose
from connectors.base import CampaignRecord
from tests.api.factories import create_account, create_campaign, get_portfolio

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
LAST_DAY = NOW.date() - dt.timedelta(days=1)
# At 100 EUR both kinds are half-saturated: a conversion campaign buys 3 a day, a reach
# campaign 30,000 people. At the margin they are worth the same at 30.00 per conversion and
# 3.00 per 1,000 people reached.
CONV_CEILING, REACH_CEILING, HALF = 6.0, 60_000.0, 100.0


def _portfolio(session: Session) -> tuple[AdAccount, dict[str, Campaign]]:
    get_portfolio(session)
    account = create_account(session, network="meta", currency="EUR", external_id="act_7")
    rng = np.random.default_rng(11)
    campaigns = {}
    for name, kind in (("sales-1", "conversions"), ("sales-2", "conversions"),
                       ("brand-1", "reach"), ("brand-2", "reach")):
        campaign = create_campaign(session, account=account, daily_budget="100", name=name,
                                   external_id=name)
        campaign.result_kind = kind
        campaign.objective = "OUTCOME_SALES" if kind == "conversions" else "OUTCOME_AWARENESS"
        for i in range(85):
            spend = HALF * rng.uniform(0.4, 2.2)
            noise = rng.uniform(0.95, 1.05)
            share = spend / (spend + HALF) * noise
            conv = CONV_CEILING * share if kind == "conversions" else 0.02 * share
            session.add(DailyMetric(
                campaign_id=campaign.id, account_id=account.id,
                date=LAST_DAY - dt.timedelta(days=i), spend=Decimal(f"{spend:.2f}"),
                conversions=Decimal(f"{conv:.4f}"), revenue=Decimal(f"{conv * 40:.2f}"),
                impressions=int(spend * 800), clicks=int(spend * 5),
                reach=int(REACH_CEILING * share) if kind == "reach" else int(spend * 90),
            ))
        campaigns[name] = campaign
    session.flush()
    return account, campaigns


def _settings(**values: Any) -> Settings:
    return Settings.model_validate({"optimizer": {
        "objective": "value", "max_change": 0.3, "exploration": "none",
        "values": {"conversions": 30.0, **values},
    }})


def _budgets(result: Any) -> dict[str, float]:
    return {a.campaign_id: a.proposed_budget for a in result.allocations}


def test_raising_the_reach_value_moves_budget_to_reach_and_lowering_it_away(
    engine: Engine,
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session)
        high = propose(session, _settings(reach=6.0), now=NOW)
        low = propose(session, _settings(reach=1.0), now=NOW)
    up, down = _budgets(high), _budgets(low)
    for name in ("brand-1", "brand-2"):
        assert up[name] > 100 > down[name]
    for name in ("sales-1", "sales-2"):
        assert up[name] < 100 < down[name]
    for result in (high, low):  # one proposal, the total kept
        assert sum(_budgets(result).values()) <= 400.0 + 1e-9
        assert result.objective == "value"
        assert result.expected.value is not None and result.baseline.value is not None
        assert result.expected.value > result.baseline.value
    brand = next(a for a in high.allocations if a.campaign_id == "brand-1")
    assert brand.result_kind == "reach" and brand.buys.result == "reach"
    assert brand.buys.change > 0 and brand.buys.value is not None and brand.buys.value > 0
    assert "people reached a day (estimate)" in brand.reason
    sales = next(a for a in high.allocations if a.campaign_id == "sales-1")
    assert sales.buys.result == "conversions" and sales.buys.change < 0
    assert "gives up" in sales.reason and "conversions a day" in sales.reason
    item = high.to_json()["allocations"][0]
    assert {"result_kind", "buys"} <= item.keys()  # added; every earlier key is still there
    assert {"network", "campaign_id", "proposed_budget", "reason", "curve"} <= item.keys()
    assert set(item["buys"]) == {"result", "current", "proposed", "change", "value"}
    assert high.to_json()["expected"]["value"] == high.expected.value


def test_a_portfolio_values_over_the_optimizer_section(engine: Engine) -> None:
    settings = Settings.model_validate({
        "optimizer": {"objective": "value", "max_change": 0.3, "exploration": "none",
                      "values": {"conversions": 30.0, "reach": 1.0}},
        "portfolios": [{"name": "default", "values": {"reach": 6.0}}],
    })
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session)
        result = propose(session, settings, now=NOW)
        run = session.get(OptimizationRun, result.run_id)
        assert run is not None and run.inputs["values"] == {"conversions": 30.0, "reach": 6.0}
    assert _budgets(result)["brand-1"] > 100


def test_a_result_without_a_value_is_refused_by_name(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session)
        with pytest.raises(ValidationError, match=r"\[optimizer.values\] reach = 4.0"):
            propose(session, _settings(), now=NOW)


def test_the_managers_result_wins_over_sync(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        account, campaigns = _portfolio(session)
        brand = campaigns["brand-1"]
        set_result_kind(session, brand, "conversions", actor="fiona")
        # The next sync reads the platform's awareness objective again.
        upsert_campaigns(session, account, [CampaignRecord(
            external_id="brand-1", name="brand-1", status="active",
            daily_budget=Decimal(100), objective="OUTCOME_AWARENESS", result_kind="reach")])
        session.refresh(brand)
        assert (brand.result_kind, brand.result_kind_user) == ("reach", "conversions")
        result = propose(session, _settings(reach=6.0), now=NOW)
        kinds = {a.campaign_id: a.result_kind for a in result.allocations}
        assert kinds == {"sales-1": "conversions", "sales-2": "conversions",
                         "brand-1": "conversions", "brand-2": "reach"}
        set_result_kind(session, brand, None, actor="fiona")  # the synced one counts again
        again = propose(session, _settings(reach=6.0), now=NOW)
    assert {a.campaign_id: a.result_kind for a in again.allocations}["brand-1"] == "reach"


def test_sales_campaigns_count_revenue_when_the_portfolio_says_so(engine: Engine) -> None:
    settings = Settings.model_validate({"optimizer": {
        "objective": "value", "sales_result": "revenue", "exploration": "none",
        "values": {"reach": 3.0}}})
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session)
        result = propose(session, settings, now=NOW)
    kinds = {a.campaign_id: a.buys.result for a in result.allocations}
    assert kinds["sales-1"] == "revenue" and kinds["brand-1"] == "reach"


def test_a_value_run_keeps_its_targets_for_pacing(engine: Engine) -> None:
    """A value portfolio's run stores where it would put each budget without the max change,
    so pacing's forecast follows it too: reach campaigns head further up than the 30% the
    proposal moved them, conversion campaigns further down."""
    with Session(engine, expire_on_commit=False) as session:
        _portfolio(session)
        result = propose(session, _settings(reach=6.0), now=NOW)
        run = session.get(OptimizationRun, result.run_id)
        assert run is not None and run.targets is not None
        assert run.targets["max_change"] == 0.3
        targets = {t: amount for _, _, t, amount in run.targets["budgets"]}
    proposed = _budgets(result)
    assert set(targets) == set(proposed)
    for name in ("brand-1", "brand-2"):
        assert targets[name] >= proposed[name] - 1 > 100
    for name in ("sales-1", "sales-2"):
        assert targets[name] <= proposed[name] + 1 < 100
