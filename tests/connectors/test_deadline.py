"""A task's own deadline (connectors.deadline), for workers whose pool has no time limits:
past it no platform call, retry or report wait starts, and what stopped says why."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from campaigns.shifts.writeback import apply_items
from connectors import deadline
from connectors.base import ConnectorError
from connectors.retry import RetryPolicy, call_with_retry
from connectors.sandbox import SandboxConnector
from tests.connectors.test_writeback import _items, _shift

REASON = "no result within [queue] account_time_limit (3 s)"


def test_past_the_deadline_a_check_raises_with_the_reason_and_only_in_its_task() -> None:
    now = [100.0]
    seen: list[float | None] = []
    with deadline.within(3, REASON, clock=lambda: now[0]):
        deadline.check("first call")
        other = threading.Thread(target=lambda: seen.append(deadline.remaining()))
        other.start()
        other.join()
        now[0] = 103.0
        with pytest.raises(deadline.DeadlineExceeded) as caught:
            deadline.check("Meta campaigns of act_1")
    assert caught.value.kind == "deadline"
    assert str(caught.value) == f"Meta campaigns of act_1: {REASON}"
    assert seen == [None]  # another thread (another task of the process) has none
    deadline.check("after the block")  # the deadline ended with it


def test_a_retry_never_waits_past_the_deadline() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=10, base_delay=50, max_delay=50, jitter=0,
                         sleep=slept.append)

    def throttled() -> None:
        raise ConnectorError("User request limit reached", kind="throttled")

    with deadline.within(5, REASON), pytest.raises(deadline.DeadlineExceeded) as caught:
        call_with_retry(throttled, classify=lambda e: e, policy=policy,  # type: ignore
                        what="Meta read")
    assert len(slept) == 1 and slept[0] <= 5  # waited the time left, not the 50 s asked
    assert REASON in str(caught.value)


def test_a_report_that_never_finishes_is_given_up_at_the_deadline(tmp_path) -> None:
    sb = SandboxConnector(now=dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC),
                          state_path=tmp_path / "s.json", stuck_reports=["act_1001"])
    start = time.monotonic()
    with deadline.within(0.3, REASON), pytest.raises(deadline.DeadlineExceeded) as caught:
        list(sb.daily_metrics("act_1001", dt.date(2026, 6, 1), dt.date(2026, 6, 14)))
    assert time.monotonic() - start < 5  # not the report's hour
    assert str(caught.value) == f"sandbox report of act_1001: {REASON}"


def test_a_write_back_past_its_deadline_gives_the_rest_back_and_writes_nothing_twice(
    engine, graph, make_meta
) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    for i in range(1, 5):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
    shift_id = _shift(engine, "meta", "act_1", "EUR",
                      [(f"c{i}", "campaign", f"c{i}", "100", f"{100 + i}") for i in range(1, 5)])
    meta = make_meta()
    # The clock is the budgets written: the deadline passes with the second write, before
    # the third is sent and before the writes are read back.
    with deadline.within(2, REASON, clock=lambda: len(st.budget_posts)):
        report = apply_items(engine, shift_id, lambda account: meta, actor="tester")

    items = _items(engine, shift_id)
    assert [i.status for i in items] == ["failed", "failed", "failed", "approved"]
    assert all(i.error.startswith("[deadline] ") and REASON in i.error for i in items[:3])
    assert "Meta set budget campaign c3" in items[2].error  # never sent
    assert [o.outcome for o in report.outcomes if o.item_id == items[3].id] == [
        "not_attempted"]
    assert [p for p, _ in st.budget_posts] == ["c1", "c2"]

    again = apply_items(engine, shift_id, lambda account: meta, actor="tester")
    assert again.status == "applied"
    # c1 and c2 were written, unverified: read first, they are not sent twice
    assert [p for p, _ in st.budget_posts] == ["c1", "c2", "c3", "c4"]
    assert [i.status for i in _items(engine, shift_id)] == ["applied"] * 4
