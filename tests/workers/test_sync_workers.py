"""Sync fanned out over real `budgetpilot worker` processes (Redis broker, PostgreSQL state)
equals the in-process sync to the cent, survives a SIGKILLed worker, and gives up by name."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.data import run_sync
from api.cli.main import EXIT_USAGE, app
from campaigns.config import load_settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.models import AdAccount, Campaign, DailyMetric, SyncRun
from tests.workers.processes import (
    kill_the_one_running,
    queue_config,
    redis_skip_reason,
    workers,
)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
_REDIS_SKIP = redis_skip_reason()
needs_redis = pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
pytestmark = [pytest.mark.redis]


def sandbox(now: dt.datetime = NOW, **options: object) -> str:
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in options.items())
    return (
        "[sync]\nlookback_days = 7\nhistory_days = 30\n\n[[sources]]\nname = \"sandbox\"\n"
        f"kind = \"sandbox\"\nseed = 11\ncampaigns_per_account = 2\n"
        f"now = \"{now.replace(tzinfo=None).isoformat()}\"\n{extra}"
    )


def snapshot(engine: Engine) -> dict[tuple, tuple]:
    """Every metric row and campaign budget, keyed by platform ids (not our row ids)."""
    with Session(engine) as s:
        rows = s.execute(
            select(AdAccount.network, AdAccount.external_id, Campaign.external_id,
                   DailyMetric.date, DailyMetric.spend, DailyMetric.impressions,
                   DailyMetric.clicks, DailyMetric.conversions, DailyMetric.revenue)
            .join(Campaign, Campaign.id == DailyMetric.campaign_id)
            .join(AdAccount, AdAccount.id == DailyMetric.account_id)
        ).all()
        budgets = s.execute(
            select(AdAccount.external_id, Campaign.external_id, Campaign.daily_budget)
            .join(AdAccount, AdAccount.id == Campaign.account_id)
        ).all()
    out: dict[tuple, tuple] = {
        tuple(r[:4]): tuple(Decimal(str(x)) for x in r[4:]) for r in rows
    }
    out.update({("budget", a, c): (None if b is None else Decimal(str(b)),)
                for a, c, b in budgets})
    return out


def in_process(config_text: str, sqlite_url: str, capsys: pytest.CaptureFixture) -> tuple:
    """The reference: the same sources synced in this process, no broker."""
    import tomllib

    settings = settings_from_dict(tomllib.loads(config_text))
    engine = create_db_engine(sqlite_url)
    failed = run_sync(engine, settings, now=NOW)
    out = capsys.readouterr()
    result = (failed, out.out, snapshot(engine))
    engine.dispose()
    return result


def on_workers(config: Path, url: str, capsys: pytest.CaptureFixture) -> tuple:
    settings = load_settings(config)
    engine = create_db_engine(url)
    failed = run_sync(engine, settings, now=NOW)
    out = capsys.readouterr()
    result = (failed, out, snapshot(engine))
    engine.dispose()
    return result


def test_queue_section_is_typed_and_refuses_unknown_keys(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(sandbox() + '\n[queue]\nbroker_url = "redis://127.0.0.1:6379/0"\n'
                      "max_attempt = 3\n")
    result = CliRunner().invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == EXIT_USAGE
    assert "queue.max_attempt" in result.output
    config.write_text(sandbox() + '\n[queue]\nbroker_url = "localhost"\n')
    result = CliRunner().invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == EXIT_USAGE and "queue.broker_url" in result.output


def test_worker_without_a_broker_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "plain.toml"
    config.write_text(sandbox())
    result = CliRunner().invoke(app, ["worker", "--config", str(config)])
    assert result.exit_code == EXIT_USAGE
    assert "[queue] broker_url" in result.output


@needs_redis
@pytest.mark.postgres
@pytest.mark.slow
def test_fanned_out_sync_equals_in_process_sync_to_the_cent(
    tmp_path: Path, sqlite_url: str, own_pg_url: str, capsys: pytest.CaptureFixture
) -> None:
    source = sandbox(accounts=4, fail_accounts=["act_1002"])
    reference = in_process(source, sqlite_url, capsys)
    config = tmp_path / "queue.toml"
    queue_config(config, source)
    with workers(config, own_pg_url, tmp_path, count=2):
        failed, out, state = on_workers(config, own_pg_url, capsys)
    assert failed == reference[0] == 1  # the revoked account, named; the others synced
    assert "meta:act_1002: entities FAILED: [auth]" in out.err
    assert out.out == reference[1]
    assert state == reference[2] and len(state) > 100


@needs_redis
@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    tmp_path: Path, sqlite_url: str, own_pg_url: str, capsys: pytest.CaptureFixture
) -> None:
    # Each platform call takes 0.3 s, so the kill lands inside a task.
    source = sandbox(accounts=3, latency_ms=300)
    reference = in_process(source.replace("latency_ms = 300", ""), sqlite_url, capsys)
    config = tmp_path / "queue.toml"
    queue_config(config, source, visibility_timeout=2)
    with workers(config, own_pg_url, tmp_path, count=2) as pool:
        done: list[tuple] = []
        submit = threading.Thread(
            target=lambda: done.append(on_workers(config, own_pg_url, capsys)))
        submit.start()
        # 0.3 s after the task started: inside its platform calls
        victim, survivor = kill_the_one_running(pool, "sync attempt 1", after=0.3)
        killed = re.findall(r"(\S+): sync attempt 1", victim.text())[-1]
        submit.join(timeout=90)
        assert not submit.is_alive(), survivor.text()
    failed, out, state = done[0]
    assert failed == 0, out.err
    assert f"{killed}: sync attempt 2" in survivor.text()  # delivered again, elsewhere
    assert out.out == reference[1]
    assert state == reference[2]


@needs_redis
@pytest.mark.slow
def test_a_task_that_keeps_failing_gives_up_by_name(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    # The workers' database disappears after they start: every attempt fails in the database.
    doomed = tmp_path / "doomed.db"
    config = tmp_path / "queue.toml"
    queue_config(config, sandbox(accounts=2) + "", visibility_timeout=3600)
    text = config.read_text() + "max_attempts = 3\nretry_backoff_max = 1\n"
    config.write_text(text)
    with workers(config, f"sqlite:///{doomed}", tmp_path, count=1) as (w,):
        doomed.unlink()
        settings = load_settings(config)
        engine = create_db_engine(sqlite_url)
        failed = run_sync(engine, settings, now=NOW)
        with Session(engine) as s:  # in the submitter's database, as an in-process failure is
            recorded = s.scalars(select(SyncRun.error).where(SyncRun.status == "failed")).all()
        engine.dispose()
        log = w.text()
    assert len(recorded) == 2 and all("gave up after 3 attempts" in e for e in recorded)
    err = capsys.readouterr().err
    assert failed == 2
    for label in ("meta:act_1001", "meta:act_1002"):
        assert (f"{label}: accounts FAILED: TaskGaveUp: sync of {label} gave up after 3 "
                "attempts: OperationalError: no such table") in err
        assert f"{label}: sync attempt 3" in log and f"{label}: sync attempt 4" not in log


@needs_redis
@pytest.mark.postgres
@pytest.mark.slow
def test_a_sync_past_its_time_limit_on_the_thread_pool_fails_that_account_by_name(
    tmp_path: Path, own_pg_url: str, capsys: pytest.CaptureFixture
) -> None:
    """`budgetpilot sync` on `--pool threads` keeps [queue] account_time_limit as the
    nightly does: an account whose report never ends fails at the limit, named, and the
    others are synced; the sync does not wait out wait_timeout for it."""
    config = tmp_path / "queue.toml"
    queue_config(config, sandbox(accounts=3, stuck_reports=["act_1002"]), wait_timeout=40)
    config.write_text(config.read_text() + "account_time_limit = 3\n")
    with workers(config, own_pg_url, tmp_path, count=1, concurrency=3, pool="threads"):
        start = time.monotonic()
        failed, out, state = on_workers(config, own_pg_url, capsys)
        took = time.monotonic() - start
    assert failed == 1, out.err
    lines = [x for x in out.err.splitlines() if "FAILED" in x]
    assert lines and all(x.startswith("meta:act_1002: ") for x in lines), out.err
    assert any("[deadline]" in x and "account_time_limit (3 s)" in x for x in lines), out.err
    # the other accounts' metrics are in (the sandbox's third account is a Google one)
    assert {k[:2] for k in state if k[0] != "budget"} == {
        ("meta", "act_1001"), ("google", "1234567890")}
    assert took < 30  # at the limit, not at wait_timeout or the report's own timeout


@needs_redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize(("grace", "named"), [
    (60, "TimeoutError: no result within [queue] account_time_limit (3 s)"),
    (0, "ended by its worker at the hard time limit: [queue] account_time_limit (3 s)"),
], ids=["soft-limit", "hard-limit"])
def test_a_sync_past_its_time_limit_on_prefork_fails_that_account_by_name(
    tmp_path: Path, own_pg_url: str, capsys: pytest.CaptureFixture, grace: int, named: str,
) -> None:
    """`budgetpilot sync` on the prefork pool carries Celery's soft and hard time limits
    from [queue] account_time_limit (+ grace), as the nightly's sync tasks do: the account
    whose report never ends fails at the limit, named, and the others are synced; the sync
    does not wait out wait_timeout for it. With no grace its worker ends it at the limit."""
    config = tmp_path / "queue.toml"
    queue_config(config, sandbox(accounts=3, stuck_reports=["act_1002"]), wait_timeout=60)
    config.write_text(config.read_text()
                      + f"account_time_limit = 3\naccount_time_limit_grace = {grace}\n")
    with workers(config, own_pg_url, tmp_path, count=2) as pool:
        start = time.monotonic()
        failed, out, state = on_workers(config, own_pg_url, capsys)
        took = time.monotonic() - start
        logs = "".join(w.text() for w in pool)
    assert failed == 1, out.err
    lines = [x for x in out.err.splitlines() if "FAILED" in x]
    assert lines and all(x.startswith("meta:act_1002: ") for x in lines), out.err
    assert any(named in x for x in lines), out.err
    # Celery itself stopped it, at the limit (soft) or the limit plus no grace (hard)
    assert ("Hard time limit (3" in logs) == (grace == 0), logs
    assert {k[:2] for k in state if k[0] != "budget"} == {
        ("meta", "act_1001"), ("google", "1234567890")}
    assert took < 30  # at the limit, not at wait_timeout or the report's own timeout
