"""The kill switch: pause automation globally, per portfolio or per account from the API and
the CLI; the nightly job and auto-approval respect it at once; every pause and resume is
audited with who and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli.main import app as cli
from campaigns.admin import automation
from campaigns.admin.auth import Principal, Role
from campaigns.jobs.nightly import run_nightly
from campaigns.models import AuditEvent, BudgetShift, ShiftItem
from campaigns.optimization import proposals as optimization
from campaigns.policy import service_config
from campaigns.shifts import lifecycle as shifts
from connectors.registry import build_connector
from tests.api.factories import create_account, get_portfolio
from tests.api.sandbox import platform_budgets, sandbox_settings, sync_sandbox

Headers = Callable[[str], dict[str, str]]
MANAGER = Principal(name="maria", role=Role.manager)


def test_pause_and_resume_over_the_api(client: TestClient, as_role: Headers, db: Session) -> None:
    create_account(db, network="meta", external_id="act_77")
    db.commit()
    state = client.get("/api/v1/automation", headers=as_role("viewer"))
    assert state.status_code == 200
    assert (state.json()["paused"], state.json()["pauses"]) == (False, [])
    body = {"reason": "black friday freeze"}
    assert client.post("/api/v1/automation/pause", json=body,
                       headers=as_role("viewer")).status_code == 403
    r = client.post("/api/v1/automation/pause", json=body, headers=as_role("manager"))
    assert r.status_code == 200, r.text
    assert r.json()["paused"] is True
    [pause] = r.json()["pauses"]
    assert (pause["scope"], pause["paused_by"], pause["reason"]) == (
        "global", "manager", "black friday freeze")
    r = client.post("/api/v1/automation/pause", headers=as_role("admin"),
                    json={"account": "meta:act_77", "reason": "token rotation"})
    assert r.status_code == 200 and len(r.json()["pauses"]) == 2
    # Bad input is a clear 4xx: no reason, an unknown portfolio, both scopes at once.
    for bad, status in (({"reason": " "}, 422), ({"reason": "x", "portfolio": "nope"}, 404),
                        ({"reason": "x", "portfolio": "default", "account": "act_77"}, 422)):
        r = client.post("/api/v1/automation/pause", json=bad, headers=as_role("manager"))
        assert r.status_code == status, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/api/v1/automation/resume", headers=as_role("manager"),
                    json={"reason": "freeze over"})
    assert r.status_code == 200 and r.json()["resumed"] is True
    assert r.json()["state"]["paused"] is False
    again = client.post("/api/v1/automation/resume", headers=as_role("manager"),
                        json={"reason": "freeze over"})
    assert again.json()["resumed"] is False
    events = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "automation")
                        .order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor, (e.after or {}).get("reason")) for e in events] == [
        ("automation.pause", "manager", "black friday freeze"),
        ("automation.pause", "admin", "token rotation"),
        ("automation.resume", "manager", "freeze over"),
    ]


def test_global_and_portfolio_pauses_stop_the_nightly_job(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05})
    sync_sandbox(engine, settings)
    before = platform_budgets(settings)
    for scope in ({}, {"portfolio": "default"}):
        with Session(engine) as session:
            automation.pause(session, actor="maria", reason="agency audit", **scope)
            session.commit()
        report = run_nightly(engine, settings)
        [skipped] = report.portfolios
        assert skipped.status == "skipped" and "agency audit" in skipped.message
        assert "paused" in "\n".join(report.lines())
        assert db.scalars(select(BudgetShift.id)).all() == []
        assert platform_budgets(settings) == before
        with Session(engine) as session:
            automation.resume(session, actor="maria", reason="done", **scope)
            session.commit()
    resumed = run_nightly(engine, settings)
    assert resumed.portfolios[0].status == "succeeded" and resumed.portfolios[0].applied
    assert platform_budgets(settings) != before


def test_a_paused_account_is_neither_auto_approved_nor_applied(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05})
    sync_sandbox(engine, settings)
    with Session(engine, expire_on_commit=False) as session:
        manual = optimization.propose(session, settings, created_by="olga").shift_id
        view = shifts.get_shift(session, manual)
        shifts.approve(session, manual, version=view.shift.version, user=MANAGER,
                       policy=service_config(settings).service)
        session.commit()
    platform = build_connector(settings.source("sandbox"), settings)
    keys_of = {}
    for c in platform.campaigns:  # type: ignore[attr-defined]
        keys_of.setdefault(f"{c.account.network}:{c.account.external_id}", set()).add(c.budget_key)
    targets = {i.target_external_id for i in view.items}
    paused = next(k for k, keys in keys_of.items() if keys & targets)
    with Session(engine) as session:
        automation.pause(session, actor="maria", account=paused, reason="client disputes spend")
        session.commit()
    before = platform_budgets(settings)
    report = run_nightly(engine, settings)
    [outcome] = report.portfolios
    assert outcome.status == "succeeded", report.lines()
    db.expire_all()
    # The manager's shift touches the paused account: it waits, whole, for the resume.
    assert db.get(BudgetShift, manual).status == "approved"  # type: ignore[union-attr]
    assert manual not in outcome.applied
    assert any(f"shift {manual} waits" in h and paused in h for h in outcome.held)
    # The nightly's own proposal is approved and applied without the paused account's items.
    new = db.get(BudgetShift, outcome.shift_id)
    assert new is not None and outcome.auto_approved and new.status == "applied"
    items = db.scalars(select(ShiftItem).where(ShiftItem.shift_id == new.id)).all()
    for item in items:
        mine = item.target_external_id in keys_of[paused]
        assert item.status == ("rejected" if mine else "applied"), (item.target_external_id,
                                                                    item.status)
    after = platform_budgets(settings)
    assert all(after[k] == before[k] for k in keys_of[paused])
    assert any(after[k] != before[k] for k in after if k not in keys_of[paused])
    assert f"accounts {paused} are paused" in "\n".join(report.lines())


def test_a_paused_account_s_failed_items_are_not_retried_by_the_nightly(
    engine: Engine, tmp_path: Path, db: Session, client: TestClient, as_role: Headers
) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05})
    sync_sandbox(engine, settings)
    with Session(engine, expire_on_commit=False) as session:
        failed = optimization.propose(session, settings, created_by="olga").shift_id
        view = shifts.get_shift(session, failed)
        shifts.approve(session, failed, version=view.shift.version, user=MANAGER,
                       policy=service_config(settings).service)
        session.commit()
    # An earlier apply failed on every item (the platform was down); the backoff has passed.
    with Session(engine) as session:
        shift = session.get(BudgetShift, failed)
        assert shift is not None
        shift.status = "failed"
        for item in session.scalars(select(ShiftItem).where(ShiftItem.shift_id == failed)):
            item.status, item.attempts, item.next_attempt_at = "failed", 1, None
            session.add(item)
        session.add(shift)
        session.commit()
    platform = build_connector(settings.source("sandbox"), settings)
    accounts = {f"{c.account.network}:{c.account.external_id}"  # type: ignore[attr-defined]
                for c in platform.campaigns  # type: ignore[attr-defined]
                if c.budget_key in {i.target_external_id for i in view.items}}
    paused = sorted(accounts)[0]
    with Session(engine) as session:
        automation.pause(session, actor="maria", account=paused, reason="client disputes spend")
        session.commit()
    report = run_nightly(engine, settings)
    [outcome] = report.portfolios
    assert outcome.status == "succeeded", report.lines()
    assert any(h.startswith(f"shift {failed} waits") and paused in h for h in outcome.held)
    db.expire_all()
    assert db.get(BudgetShift, failed).status == "failed"  # type: ignore[union-attr]
    assert {i.attempts for i in db.scalars(select(ShiftItem).where(
        ShiftItem.shift_id == failed))} == {1}  # not one more attempt
    # the automation panel's list of runs says what waits and what changed
    [run] = client.get("/api/v1/nightly-runs", headers=as_role("manager")).json()["data"]
    assert any(h.startswith(f"shift {failed} waits") for h in run["held"])
    assert run["changes"] and all(c["account"] != paused for c in run["changes"])
    assert {c["outcome"] for c in run["changes"]} == {"applied"}
    # resumed: the next run retries it
    with Session(engine) as session:
        automation.resume(session, actor="maria", account=paused, reason="settled")
        session.commit()
    again = run_nightly(engine, settings, force=True)
    assert not any(h.startswith(f"shift {failed} waits") for h in again.portfolios[0].held)
    db.expire_all()
    assert db.get(BudgetShift, failed).status == "applied"  # type: ignore[union-attr]


def test_the_automation_command(tmp_path: Path) -> None:
    db = tmp_path / "bp.db"
    cfg = tmp_path / "bp.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db}"\n')
    run = CliRunner().invoke
    status = run(cli, ["automation", "status", "--config", str(cfg)])
    assert status.exit_code == 0 and "nothing paused" in status.output
    missing = run(cli, ["automation", "pause", "--config", str(cfg)])
    assert missing.exit_code == 2 and "--reason" in missing.output
    unknown = run(cli, ["automation", "pause", "--portfolio", "brand-x", "--reason", "x",
                        "--config", str(cfg)])
    assert unknown.exit_code == 2 and "no portfolio named 'brand-x'" in unknown.output
    paused = run(cli, ["automation", "pause", "--reason", "incident 42", "--by", "ops-anna",
                       "--config", str(cfg)])
    assert paused.exit_code == 0, paused.output
    assert "paused all automation" in paused.output and "incident 42" in paused.output
    status = run(cli, ["automation", "status", "--config", str(cfg)])
    assert "paused: all automation" in status.output and "ops-anna" in status.output
    resumed = run(cli, ["automation", "resume", "--reason", "fixed", "--by", "ops-anna",
                        "--config", str(cfg)])
    assert resumed.exit_code == 0 and "resumed all automation" in resumed.output
    assert "nothing paused" in resumed.output


def test_the_state_shows_dry_run_and_each_portfolio_s_schedule(
    engine: Engine, as_role: Headers, db: Session
) -> None:
    from api.app import create_app
    from campaigns.config import settings_from_dict

    settings = settings_from_dict({
        "automation": {"dry_run": True},
        "optimizer": {"follow_plans": True, "plan_band": 0.08},
        "scheduler": {"enabled": True, "timezone": "Europe/Berlin", "auto_approve": False},
        "portfolios": [{"name": "default", "schedule": "30 3 * * *"},
                       {"name": "dach", "schedule": "0 5 * * mon"}],
    })
    with TestClient(create_app(settings, engine)) as c:
        get_portfolio(db, "dach")
        automation.pause(db, actor="maria", portfolio="dach", reason="brand review")
        db.commit()
        body = c.get("/api/v1/automation", headers=as_role("viewer")).json()
    assert body["dry_run"] is True and body["hard_stop"] == "lower"
    assert body["follow_plans"] is True and body["plan_band"] == 0.08
    assert body["scheduler"] == {"enabled": True, "timezone": "Europe/Berlin", "sync": True,
                                 "auto_approve": False, "apply": True}
    by = {s["portfolio"]: s for s in body["schedules"]}
    assert (by["default"]["cron"], by["default"]["paused"]) == ("30 3 * * *", False)
    assert (by["dach"]["cron"], by["dach"]["paused"]) == ("0 5 * * mon", True)
    import datetime as dt
    from zoneinfo import ZoneInfo

    nxt = dt.datetime.fromisoformat(by["dach"]["next_run"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 5, 0)  # Monday 05:00 Berlin time
