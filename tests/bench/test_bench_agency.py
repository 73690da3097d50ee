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
    assert re.search(r"^    write-back: [1-9]\d* budgets written; an account's apply task "
                     r"[\d.]+ s median, [\d.]+ s max \(50 accounts\)", out, re.M)
    assert "NOT OK" not in out
