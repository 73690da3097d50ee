"""The nightly benchmark runs end to end on a tiny sandbox and reports every stage."""

from __future__ import annotations

import re

from bench import bench_nightly


def test_bench_reports_each_stage_of_both_nights(capsys) -> None:
    bench_nightly.main(["--accounts", "2", "--campaigns-per-account", "3",
                        "--history-days", "12"])
    out = capsys.readouterr().out
    assert "2 accounts x 3 campaigns (6 campaigns)" in out
    nights = re.findall(r"^(first run|steady state).*: ([\d.]+) s \(([\d.]+) s CPU\), "
                        r"peak RSS (\d+) MiB$", out, re.M)
    assert [n[0] for n in nights] == ["first run", "steady state"]
    assert all(float(n[1]) > 0 and int(n[3]) > 50 for n in nights)
    for stage in ("sync", "optimise/propose", "approve", "apply", "alerts"):
        assert len(re.findall(rf"^  {re.escape(stage)} +[\d.]+ s +[\d.]+ s CPU +peak RSS +\d+ "
                              r"MiB$", out, re.M)) == 2, stage
    assert "NOT OK" not in out
    assert out.count("auto-approved; applied shifts") == 2
