"""The one cache mechanism: entries live ``ttl`` seconds of the given clock, at most
``maxsize`` of them, and one computation per key runs at a time."""

from __future__ import annotations

import threading

from campaigns.reports.cache import Cache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_the_ttl_of_the_clock() -> None:
    clock = Clock()
    cache: Cache[str] = Cache(10, timer=clock)
    cache.put(("pacing", 1), "report")
    clock.now = 9.9
    assert cache.get(("pacing", 1)) == "report"
    clock.now = 10.1
    assert cache.get(("pacing", 1)) is None
    assert cache.get_or_compute(("pacing", 1), lambda: "again") == "again"


def test_a_new_data_version_is_a_new_key_and_the_oldest_unused_entry_goes_first() -> None:
    cache: Cache[int] = Cache(60, maxsize=2, timer=Clock())
    calls: list[int] = []

    def compute(version: int) -> int:
        calls.append(version)
        return version * 10

    assert cache.get_or_compute(("r", 1), lambda: compute(1)) == 10
    assert cache.get_or_compute(("r", 1), lambda: compute(1)) == 10
    assert cache.get_or_compute(("r", 2), lambda: compute(2)) == 20  # the data changed
    cache.get(("r", 1))  # used: kept over ("r", 2)
    cache.put(("r", 3), 30)
    assert len(cache) == 2 and cache.get(("r", 2)) is None and cache.get(("r", 1)) == 10
    assert calls == [1, 2]


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache: Cache[str] = Cache(0)
    assert cache.get_or_compute("k", lambda: "a") == "a"
    assert cache.put("k", "b") == "b" and cache.get("k") is None and len(cache) == 0


def test_concurrent_callers_for_one_key_wait_for_the_first_computation() -> None:
    cache: Cache[int] = Cache(60)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)  # the first computation is still running while the others call
        return 42

    results: list[int] = []

    def call() -> None:
        results.append(cache.get_or_compute("k", slow))

    first = threading.Thread(target=call)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=call) for _ in range(4)]
    for t in others:
        t.start()
    others[-1].join(0.1)  # blocked on the first computation, not computing
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert results == [42] * 5 and calls == [1]
