"""`budgetpilot optimize`: DESIGN.md's JSON contract, and the run and shift it records."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.main import EXIT_USAGE, app
from campaigns.db import create_db_engine
from campaigns.models import AuditEvent, BudgetShift, Campaign, FxRate, OptimizationRun, ShiftItem

runner = CliRunner()
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database synced from the sandbox, with FX rates (built once for the module)."""
    path = tmp_path_factory.mktemp("optimize")
    cfg = path / "bp.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{path / "bp.db"}"\n'
        "[sync]\nhistory_days = 60\n"
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\n'
        "campaigns_per_account = 4\n"
        '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n'
    )
    result = runner.invoke(app, ["sync", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    # The sandbox publishes daily exchange rates; the sync stores them with the metrics.
    engine = create_db_engine(f"sqlite:///{path / 'bp.db'}")
    with Session(engine) as session:
        quoted = set(session.scalars(select(FxRate.currency).where(
            FxRate.date == TODAY - dt.timedelta(days=1), FxRate.quote == "EUR")))
    assert quoted == {"JPY", "USD", "GBP"}
    engine.dispose()
    return cfg


def _optimize(cfg: Path, *args: str) -> dict:
    result = runner.invoke(app, ["optimize", "--config", str(cfg), "--json", *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # exactly one JSON object, nothing else on stdout
    return json.loads(lines[0])


def test_json_contract_and_recorded_run(synced: Path) -> None:
    default = _optimize(synced)
    total = round(default["total_budget"] * 1.1, 2)
    spent = sum(a["proposed_budget_reporting"] for a in default["allocations"])
    assert spent == pytest.approx(default["total_budget"], rel=1e-3)
    out = _optimize(synced, "--total-budget", str(total), "--max-change", "0.3")
    assert {
        "run_id",
        "objective",
        "total_budget",
        "currency",
        "expected",
        "baseline",
        "allocations",
    } <= set(out)
    assert out["objective"] == "conversions" and out["currency"] == "EUR"
    assert out["total_budget"] == total
    for block in ("expected", "baseline"):
        assert set(out[block]) == {"conversions", "revenue", "spend"}
    assert out["expected"]["spend"] == pytest.approx(total, rel=1e-6)
    assert out["expected"]["conversions"] > 0
    keys = {
        "network",
        "account_id",
        "campaign_id",
        "current_budget",
        "proposed_budget",
        "expected_conversions",
        "expected_revenue",
        "marginal_roi",
        "reason",
    }
    assert out["allocations"] and all(keys <= set(a) for a in out["allocations"])
    assert {a["network"] for a in out["allocations"]} == {"meta", "google", "tiktok"}
    for a in out["allocations"]:
        assert a["proposed_budget"] <= a["current_budget"] * 1.3 + 0.01 or a["binding_limit"]
        assert a["reason"]
        # Each curve says how sure it is (issue: report each curve's uncertainty).
        assert a["curve"]["relative_sd"] > 0 and a["curve"]["days"] > 0
        assert isinstance(a["curve"]["identified"], bool)
        # ... and how sure its move is (null probability when it does not move).
        assert a["effect_low"] <= a["effect"] <= a["effect_high"]
        if a["prob_gain"] is None:
            assert a["proposed_budget"] == a["current_budget"]
        else:
            assert 0 <= a["prob_gain"] <= 1
    engine = create_db_engine(str(_db_url(synced)))
    with Session(engine) as session:
        run = session.get(OptimizationRun, out["run_id"])
        assert run is not None and run.duality_gap is not None and run.duality_gap < 1e-6
        assert run.outputs == out  # what was printed is what the run keeps
        shift = session.scalars(select(BudgetShift).where(BudgetShift.run_id == run.id)).one()
        assert shift.status == "proposed" and shift.id == out["shift_id"]
        items = list(session.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift.id)))
        assert items and all(i.old_budget != i.new_budget and i.reason for i in items)
        levels = {i.level for i in items}
        assert levels <= {"campaign", "adset", "shared"}
        for item in items:
            if item.level == "campaign":
                campaign = session.get(Campaign, item.campaign_id)
                assert campaign is not None and campaign.daily_budget == item.old_budget
        actions = set(session.scalars(select(AuditEvent.action)))
        assert {"optimization.run", "shift.propose"} <= actions
    engine.dispose()


def test_cautious_optimises_a_low_quantile(synced: Path) -> None:
    out = _optimize(synced, "--cautious", "0.2")
    assert out["exploration"] == "cautious" and out["allocations"]
    spent = sum(a["proposed_budget_reporting"] for a in out["allocations"])
    assert spent <= out["total_budget"] + 0.01
    bad = runner.invoke(app, ["optimize", "--config", str(synced), "--cautious", "0.9"])
    assert bad.exit_code == 2 and "--cautious" in bad.output


def test_readable_table_without_json(synced: Path) -> None:
    result = runner.invoke(app, ["optimize", "--config", str(synced), "--objective", "revenue"])
    assert result.exit_code == 0, result.output
    assert "objective revenue" in result.stdout and "reason" in result.stdout
    assert "expected:" in result.stdout and "baseline:" in result.stdout


def test_conflicting_limits_exit_2_naming_them(synced: Path) -> None:
    before = _count_runs(synced)
    result = runner.invoke(app, ["optimize", "--config", str(synced), "--total-budget", "10"])
    assert result.exit_code == EXIT_USAGE
    assert "campaign minimums" in result.output and "exceed total 10.00 EUR" in result.output
    assert _count_runs(synced) == before  # nothing recorded


def _db_url(cfg: Path) -> str:
    return f"sqlite:///{cfg.parent / 'bp.db'}"


def _count_runs(cfg: Path) -> int:
    engine = create_db_engine(_db_url(cfg))
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(OptimizationRun)) or 0
    engine.dispose()
    return count


def test_negligible_moves_are_kept_out_of_the_shift(synced: Path) -> None:
    """Every edit costs (learning phases, edit limits): sub-1% moves stay where they are."""
    out = _optimize(synced)
    for a in out["allocations"]:
        move = abs(a["proposed_budget"] - a["current_budget"])
        if a["reason"].startswith("kept:"):
            assert a["proposed_budget"] == a["current_budget"]
        else:
            assert move == 0 or move >= 0.01 * a["current_budget"] - 1e-9
    engine = create_db_engine(str(_db_url(synced)))
    with Session(engine) as session:
        items = session.scalars(select(ShiftItem).where(ShiftItem.shift_id == out["shift_id"]))
        for item in items:
            assert abs(item.new_budget - item.old_budget) >= item.old_budget / 100
    engine.dispose()


def test_a_new_proposal_supersedes_the_pending_one(synced: Path) -> None:
    first = _optimize(synced)
    second = _optimize(synced)
    engine = create_db_engine(str(_db_url(synced)))
    with Session(engine) as session:
        old = session.get(BudgetShift, first["shift_id"])
        new = session.get(BudgetShift, second["shift_id"])
        assert old is not None and new is not None
        assert (old.status, new.status) == ("expired", "proposed")
        assert old.comment == f"superseded by shift {new.id}"
        pending = session.scalars(select(BudgetShift).where(BudgetShift.status == "proposed"))
        assert [s.id for s in pending] == [new.id]
    engine.dispose()


def test_a_csv_of_last_spring_gets_a_clear_answer_and_as_of(tmp_path: Path) -> None:
    """History that ends long before today: exit 3 saying what to do; --as-of plans then."""
    import numpy as np

    from campaigns.models import SpendCap

    rng = np.random.default_rng(5)
    rows = ["date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,"
            "clicks,conversions,revenue,daily_budget"]
    last = dt.date(2026, 4, 30)
    for i in range(70):
        day = last - dt.timedelta(days=i)
        for cid, scale in (("c1", 100.0), ("c2", 60.0)):
            spend = scale * rng.uniform(0.5, 1.5)
            conv = 4 * spend / (spend + scale)
            rows.append(f"{day},tiktok,tt_1,{cid},Spring {cid},EUR,{spend:.2f},1000,50,"
                        f"{conv:.3f},{conv * 40:.2f},{scale:.2f}")
    csv = tmp_path / "spring.csv"
    csv.write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "bp.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "bp.db"}"\n'
                   '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n')
    assert runner.invoke(app, ["import-csv", str(csv), "--config", str(cfg)]).exit_code == 0
    stale = runner.invoke(app, ["optimize", "--config", str(cfg), "--json"])
    assert stale.exit_code == 3, stale.output
    assert "2026-04-30" in stale.output and "--as-of 2026-05-01" in stale.output
    assert "Traceback" not in stale.output
    out = _optimize(cfg, "--as-of", "2026-05-08")
    assert out["as_of"] == "2026-05-08" and out["shift_id"] is None
    assert len(out["allocations"]) == 2
    bad = runner.invoke(app, ["optimize", "--config", str(cfg), "--as-of", "2026-13-01"])
    assert bad.exit_code == EXIT_USAGE
    # A cap stored with a key that matches nothing is named, not silently ignored.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as session:
        session.add(SpendCap(portfolio_id=1, scope="network", scope_key="snapchat",
                             max_daily=Decimal("10")))
        session.commit()
    engine.dispose()
    capped = runner.invoke(app, ["optimize", "--config", str(cfg), "--as-of", "2026-05-08"])
    assert capped.exit_code == EXIT_USAGE
    assert "snapchat" in capped.output and "tiktok" in capped.output


def test_backtest_as_of_ends_on_that_day() -> None:
    result = runner.invoke(app, ["backtest", "--days", "2", "--as-of", "2026-06-02", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["start"] == "2026-06-01"
    both = runner.invoke(app, ["backtest", "--start", "2026-06-01", "--as-of", "2026-06-02"])
    assert both.exit_code == EXIT_USAGE


def test_the_value_objective_prices_each_campaigns_own_result(synced: Path) -> None:
    missing = runner.invoke(app, ["optimize", "--config", str(synced), "--objective", "value"])
    assert missing.exit_code == EXIT_USAGE
    assert "needs a value for conversions and reach" in missing.output
    assert "set [optimizer.values] conversions = 30.0, reach = 4.0" in missing.output
    valued = synced.parent / "valued.toml"
    valued.write_text(synced.read_text() + "[optimizer.values]\nconversions = 30.0\n"
                      "reach = 12.0\n")
    out = _optimize(valued, "--objective", "value")
    assert out["objective"] == "value"
    for block in ("expected", "baseline"):  # the earlier keys, and what the results are worth
        assert set(out[block]) == {"conversions", "revenue", "spend", "value"}
    kinds = {a["campaign_id"]: a["result_kind"] for a in out["allocations"]}
    assert set(kinds.values()) == {"conversions", "reach"}  # each account's Brand campaign
    for a in out["allocations"]:
        assert a["buys"]["result"] == a["result_kind"]
        assert a["buys"]["change"] == pytest.approx(
            a["buys"]["proposed"] - a["buys"]["current"], abs=1e-3)
        moved = a["proposed_budget"] != a["current_budget"]
        if a["result_kind"] == "reach" and moved and not a["reason"].startswith("kept"):
            assert "people reached a day (estimate)" in a["reason"]
    spent = sum(a["proposed_budget_reporting"] for a in out["allocations"])
    assert spent <= out["total_budget"] + 0.01


def test_edits_are_worth_their_cost_and_summarised(synced: Path) -> None:
    """With an edit cost, every move left gains more than an edit costs, moves that do not
    are kept where they are with the reason, and the JSON sums the edits up (fields added,
    none taken away)."""
    text = synced.read_text()
    synced.write_text(text + "\n[optimizer]\nedit_cost = 1.0\nmin_prob_gain = 0.5\n"
                      if "[optimizer]" not in text else
                      text.replace("[optimizer]", "[optimizer]\nedit_cost = 1.0\n"
                                   "min_prob_gain = 0.5", 1))
    out = _optimize(synced)
    edits = out["edits"]
    assert edits["cost"] == 1.0 and edits["min_prob_gain"] == 0.5
    assert edits["max_per_week"] is None
    moved = [a for a in out["allocations"] if a["proposed_budget"] != a["current_budget"]]
    assert edits["made"] == len(moved)
    for a in moved:
        if a["binding_limit"] is None:  # a move no limit forced
            assert a["net_gain"] > 0 and a["prob_gain"] >= 0.5
    kept = [a for a in out["allocations"] if a["reason"].startswith("kept:")]
    assert edits["not_worth"] == len(kept)
    assert all(a["net_gain"] is None for a in kept)


def test_exploration_moves_are_flagged_in_the_json(synced: Path, tmp_path: Path) -> None:
    """`exploration = "voi"`: the moves made to learn a curve say `"exploration": true` and
    why; together they move at most the configured share of the total, and every other
    allocation says `false`."""
    cfg = tmp_path / "voi.toml"
    text = synced.read_text()
    # The module's database, none of the other tests' [optimizer] keys (an edit cost holds
    # the small moves exploration would make).
    base = text.split("\n[optimizer]")[0]
    cfg.write_text(f'{base}\n[optimizer]\nexploration = "voi"\nexploration_max_share = 0.2\n')
    out = _optimize(cfg)
    plain = _optimize(synced)
    assert out["exploration"] == "voi"
    assert all(isinstance(a["exploration"], bool) for a in out["allocations"])
    assert not any(a["exploration"] for a in plain["allocations"])
    explored = [a for a in out["allocations"] if a["exploration"]]
    assert explored and all(a["reason"].startswith("exploration: ") for a in explored)
    assert all(a["proposed_budget"] != a["current_budget"] for a in explored)
    spent = sum(a["proposed_budget_reporting"] for a in out["allocations"])
    assert spent <= out["total_budget"] + 0.01
