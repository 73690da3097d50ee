"""Two nightly runs on real `budgetpilot worker` processes whose portfolios are fed by one
source: its sync lock (held by each run's submitter, as the in-process run holds it) lets one
of them sync it; the other says the source is being synced by another run and goes on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from campaigns.config import load_settings
from campaigns.db import create_db_engine
from campaigns.jobs.nightly import NightlyReport, run_nightly
from tests.api.sandbox import add_fx_rates
from tests.workers.processes import queue_config, redis_skip_reason, workers
from tests.workers.test_nightly_workflow import SLOT, _toml

_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or ""),
              pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
# Both portfolios list their accounts, so each is fed by every source: here, the one sandbox.
PORTFOLIOS = (
    '[[portfolios]]\nname = "meta"\nreporting_currency = "EUR"\n'
    'accounts = ["meta:act_1001", "meta:act_1002"]\n'
    '[[portfolios]]\nname = "google"\nreporting_currency = "EUR"\n'
    'accounts = ["google:1234567890", "google:2345678901"]\n'
)


def test_two_runs_syncing_one_source_on_workers_sync_it_once(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    toml = _toml(tmp_path / "s.json", latency_ms=150).replace(
        '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n', PORTFOLIOS)
    queue_config(cfg, toml)
    settings = load_settings(cfg)
    reports: dict[str, NightlyReport] = {}
    start = threading.Barrier(2)

    def run(name: str) -> None:
        start.wait()
        reports[name] = run_nightly(engine, settings, portfolios=[name], slot=SLOT,
                                    holder=f"test {name}", dry_run=True)

    with workers(cfg, own_pg_url, tmp_path, count=2):
        threads = [threading.Thread(target=run, args=(n,)) for n in ("meta", "google")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        # Once both ended the lock is free again: a later run syncs the source.
        again = run_nightly(engine, settings, portfolios=["google"], holder="test",
                            slot=SLOT.replace(day=2), dry_run=True)
    busy = [n for n, r in reports.items()
            if "sandbox: being synced by another run" in r.sync_failures]
    synced = [n for n, r in reports.items() if not r.sync_failures]
    assert len(busy) == 1 and len(synced) == 1, {n: r.lines() for n, r in reports.items()}
    [outcome] = reports[busy[0]].portfolios
    [timing] = [t for t in outcome.timings if t.step == "sync" and t.subject == "sandbox"]
    assert timing.error == "being synced by another run"
    assert "being synced by another run" in "\n".join(reports[busy[0]].lines())
    sync_accounts = [t for t in reports[synced[0]].portfolios[0].timings
                     if t.step == "sync_account"]
    assert len(sync_accounts) == 5  # the winner synced every account of the source
    assert not again.sync_failures and any(
        t.step == "sync_account" for t in again.portfolios[0].timings)
    engine.dispose()
