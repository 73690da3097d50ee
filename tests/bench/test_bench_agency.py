"""The agency benchmark, short: 50 accounts on one real worker, every figure printed."""

from __future__ import annotations

import re

import pytest

from bench import bench_agency
from tests.workers.processes import redis_skip_reason


def test_a_short_agency_run_prints_every_figure(capsys) -> None:
    reason = redis_skip_reason()
    if reason:
        pytest.skip(reason)
    runs = bench_agency.main([
        "--accounts", "50", "--campaigns-per-account", "2", "--history-days", "10",
        "--workers", "1", "--concurrency", "8", "--latency-ms", "1",
        "--report-seconds", "0,0.02", "--rate-limit-app", "2000/second",
        "--target-accounts", "60",
    ])
    out = capsys.readouterr().out
    assert "agency: 50 accounts x 2 campaigns (100 campaigns)" in out
    assert [(r.workers, r.accounts, r.failed) for r in runs] == [(1, 50, [])]
    line = re.search(r"^1 worker : nightly +([\d.]+) s wall, +([\d.]+) accounts/s, "
                     r"speed-up +1\.00x over 1 \(100% of linear\)", out, re.M)
    assert line and float(line[1]) > 0 and float(line[2]) > 0
    steps = re.search(r"^    steps: (.*)$", out, re.M)
    assert steps and all(s in steps[1] for s in ("sync", "propose", "apply"))
    assert re.search(r"^    load \(1-min, /proc/loadavg\): start [\d.]+, mean [\d.]+", out, re.M)
    assert re.search(r"^  sync and apply need [\d.]+ accounts/s; at [\d.]+ accounts/s per "
                     r"worker \(--concurrency 8\): \d+ workers", out, re.M)
    assert re.search(r"^    PostgreSQL connections of the run: max \d+ for 8 task slots", out,
                     re.M)
    assert re.search(r"^    this process's \(the submitter's\) connections: max \d+, its "
                     r"engine opens up to \d+", out, re.M)
    # Only an account with a budget to move gets an apply task: which ones do depends on the
    # proposal (and so on the day the run starts), so the count is at most the agency's.
    written = re.search(r"^    write-back: [1-9]\d* budgets written; an account's apply task "
                        r"[\d.]+ s median, [\d.]+ s max \((\d+) accounts\)", out, re.M)
    assert written and 1 <= int(written[1]) <= 50
    assert "NOT OK" not in out


def test_the_sync_rate_of_portfolios_side_by_side_counts_their_overlap_once() -> None:
    # Two portfolios of 50 accounts sync at once (0-40 s and 10-50 s), a third after them
    # (60-70 s): the agency synced 150 accounts in 60 s of syncing, not in the 100 s the
    # portfolios' own sync times add up to.
    seen = [(0.0, "a", "sync"), (10.0, "b", "sync"), (40.0, "a", "propose"),
            (50.0, "b", "propose"), (60.0, "c", "sync"), (70.0, "c", "apply"),
            (75.0, "a", "finished")]
    run = bench_agency.Run(1, 150, wall=80.0, stages={"sync": 100.0}, steps_seen=seen)
    assert run.sync_rate == pytest.approx(150 / 60)
    # A run from --baseline has no steps seen: its sync's own time stands.
    assert bench_agency.Run(1, 150, wall=80.0, stages={"sync": 100.0}).sync_rate == 1.5
