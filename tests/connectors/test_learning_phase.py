"""Meta ad sets in their learning phase, as the Graph API reports them in
`learning_stage_info`, are synced and left alone by `optimize` unless the manager lets them
move."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings, settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import AdSet
from campaigns.optimization.proposals import propose
from campaigns.optimization.result import ProposalResult, UnitProposal
from connectors.meta_entities import learning_stage
from tests.connectors.fake_graph import FakeGraph

NOW = dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
DAYS = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(30)]


def _world(graph: FakeGraph) -> None:
    """c1 splits its budget over s1 (learning) and s2 (learnt); c2 holds its own budget
    over s3 (learning); c3 holds its own over s4, whose learning failed; c4 has no ad set
    Meta reports a stage for."""
    st = graph.state
    st.add_account("act_1", currency="EUR")
    st.add_campaign("act_1", "c1")
    st.add_adset("c1", "s1", daily_budget=5000, learning="LEARNING", learning_conversions=12)
    st.add_adset("c1", "s2", daily_budget=5000, learning="SUCCESS", learning_conversions=80)
    for cid, sid, stage in (("c2", "s3", "LEARNING"), ("c3", "s4", "FAIL"), ("c4", "s5", None)):
        st.add_campaign("act_1", cid, daily_budget=10_000)
        st.add_adset(cid, sid, learning=stage)
    rng = np.random.default_rng(4)
    for cid in ("c1", "c2", "c3", "c4"):
        for day in DAYS:
            spend = 100 * rng.uniform(0.5, 1.5)
            purchases = 6 * spend / (spend + 100) * rng.uniform(0.8, 1.2)
            st.set_metric(cid, day, spend=f"{spend:.2f}", purchases=f"{purchases:.3f}",
                          purchase_value=f"{purchases * 40:.2f}")


def _plan(engine: Engine, **optimizer: object) -> dict[str, UnitProposal]:
    settings = Settings.model_validate({"optimizer": {
        "exploration": "none", "edit_cost": 0, "min_prob_gain": 0, **optimizer}})
    with Session(engine, expire_on_commit=False) as session:
        # Half as much again to spend: every budget free to move grows.
        result: ProposalResult = propose(session, settings, total_budget=600.0, now=NOW)
        session.commit()
    return {a.budget_id: a for a in result.allocations}


def test_ad_sets_in_learning_are_held_unless_the_manager_lets_them_move(
    engine: Engine, graph: FakeGraph, make_meta
) -> None:
    _world(graph)
    settings = settings_from_dict({"sync": {"lookback_days": 7, "history_days": 30},
                                   "sources": [{"name": "meta", "kind": "meta"}]})
    sync_source(engine, settings, settings.sources[0], make_meta(), now=NOW)
    with Session(engine) as session:
        stages = dict(session.execute(select(AdSet.external_id, AdSet.learning_stage)).all())
    assert stages == {"s1": "LEARNING", "s2": "SUCCESS", "s3": "LEARNING", "s4": "FAIL",
                      "s5": None}

    plan = _plan(engine)
    for held in ("s1", "c2"):  # an ad-set budget, and a campaign budget over a learning one
        assert plan[held].reason == "held: in Meta's learning phase"
        assert plan[held].binding_limit == "learning_phase"
        assert plan[held].proposed_budget == plan[held].current_budget
    for free in ("s2", "c3", "c4"):  # learnt, failed, or no stage reported: free to move
        assert plan[free].proposed_budget > plan[free].current_budget, plan[free].reason

    # One campaign let through by name, and the switch for all of them.
    let = _plan(engine, move_in_learning=["meta:act_1:c1"])
    assert let["s1"].proposed_budget > let["s1"].current_budget
    assert let["c2"].reason == "held: in Meta's learning phase"
    off = _plan(engine, hold_learning=False)
    assert all(a.binding_limit != "learning_phase" for a in off.values())
    assert off["c2"].proposed_budget > off["c2"].current_budget


def test_only_the_stages_meta_documents_are_read() -> None:
    assert learning_stage({"status": "LEARNING", "conversions": 3}) == "LEARNING"
    assert learning_stage({"status": "success"}) == "SUCCESS"
    assert learning_stage({"status": "SOMETHING_NEW"}) is None
    assert learning_stage(None) is None and learning_stage("LEARNING") is None
