"""A deadline for the platform calls of one task, checked between them.

Celery's soft and hard time limits are signals to a process running one task (the prefork
pool): the threads of a ``--pool threads`` worker share one process and no signal stops one
of them, so there a task sets its own deadline with :func:`within` and every connector
checks it before each call, each retry and each poll or wait of an async report. Past it,
:class:`DeadlineExceeded` (a ConnectorError of kind ``deadline``: never retried, and it
stops an account's write-back) ends what the task was doing, with the reason it was given.

The deadline lives in a context variable: it belongs to the thread (the task) that set it,
never to the other tasks of the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from connectors.base import ConnectorError

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Deadline:
    at: float  # on ``clock``
    reason: str
    clock: Clock


_current: ContextVar[_Deadline | None] = ContextVar("budgetpilot_deadline", default=None)


class DeadlineExceeded(ConnectorError):
    """The task's deadline passed before this call: nothing more is sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="deadline")


@contextmanager
def within(seconds: float, reason: str, *, clock: Clock = time.monotonic) -> Iterator[None]:
    """Calls in this block must start within ``seconds``; past them they raise
    :class:`DeadlineExceeded` with ``reason`` (what the user reads: which limit, how long)."""
    token = _current.set(_Deadline(clock() + seconds, reason, clock))
    try:
        yield
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (0 once passed), or None without one."""
    d = _current.get()
    return None if d is None else max(0.0, d.at - d.clock())


def check(what: str) -> None:
    """Raise :class:`DeadlineExceeded` if the deadline has passed (``what``: the call)."""
    d = _current.get()
    if d is not None and d.clock() >= d.at:
        raise DeadlineExceeded(f"{what}: {d.reason}")


def sleep(seconds: float, what: str, sleeper: Callable[[float], None] = time.sleep) -> None:
    """Wait ``seconds``, or only until the deadline and then raise: a task never waits past
    it for a report, a retry or its turn under a rate limit."""
    left = remaining()
    if left is not None and left < seconds:
        sleeper(left)
        check(what)
        raise DeadlineExceeded(f"{what}: {_reason()}")  # a clock that did not move on
    sleeper(seconds)
    check(what)


def _reason() -> str:
    d = _current.get()
    return d.reason if d is not None else "deadline passed"
