"""The retry rule, built on the error kinds of :mod:`connectors.errors`.

Only ``throttled`` and ``transient`` failures are retried; ``auth``, ``invalid`` and ``fatal``
fail at once (a revoked token retried forever is a classic complaint). The state of one retry
loop lives in the loop, never on the client, so two streams of one connector never share it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors import deadline
from connectors.base import ConnectorError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = frozenset({"throttled", "transient"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Tests pass tiny delays; production keeps the defaults."""

    max_attempts: int = 8
    base_delay: float = 1.0  # seconds, doubled per attempt, with jitter
    max_delay: float = 120.0  # one wait is never longer than this
    # A platform asking for a longer pause than this (Google's basic-access quota can say
    # hours) fails the call as throttled instead of blocking a worker for that long.
    max_retry_after: float = 900.0
    jitter: float = 0.5  # fraction of each delay drawn at random
    timeout: float = 120.0  # per request, passed to the SDK
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        Jitter spreads the exponential backoff of parallel workers; a wait the platform asked
        for is honoured in full (up to ``max_delay``).
        """
        backoff = self.base_delay * (2 ** (attempt - 1)) * (1 - self.jitter * random.random())
        return min(max(backoff, retry_after or 0.0), self.max_delay)


def retry_wait(
    exc: BaseException,
    attempt: int,
    *,
    classify: Callable[[BaseException], ConnectorError],
    policy: RetryPolicy,
    what: str,
) -> float:
    """Seconds to wait before trying again after ``exc`` on attempt ``attempt`` (from 1).

    Raises the classified :class:`ConnectorError` when the failure is not retryable, when the
    platform asks for a longer pause than ``policy.max_retry_after``, or after the last attempt.
    """
    err = classify(exc)
    if err.kind not in RETRYABLE:
        raise err from exc
    if err.retry_after is not None and err.retry_after > policy.max_retry_after:
        raise ConnectorError(
            f"{what}: {err} (the platform asks to wait {err.retry_after:.0f}s; giving up for now)",
            kind=err.kind,
            retry_after=err.retry_after,
        ) from exc
    if attempt >= policy.max_attempts:
        raise ConnectorError(
            f"{what}: still failing after {attempt} attempts: {err}",
            kind=err.kind,
            retry_after=err.retry_after,
        ) from exc
    wait = policy.delay(attempt, err.retry_after)
    log.warning("%s: %s failure, retry %d in %.2fs: %s", what, err.kind, attempt, wait, err)
    return wait


def call_with_retry(
    fn: Callable[[], T],
    *,
    classify: Callable[[BaseException], ConnectorError],
    policy: RetryPolicy,
    what: str,
) -> T:
    """Call ``fn`` until it succeeds, retrying throttled/transient failures with backoff."""
    attempt = 0
    while True:
        attempt += 1
        deadline.check(what)
        try:
            return fn()
        except Exception as exc:  # every failure is classified; none leaves unclassified
            wait = retry_wait(exc, attempt, classify=classify, policy=policy, what=what)
            deadline.sleep(wait, what, policy.sleep)


def write_once(
    write: Callable[[], Any],
    landed: Callable[[], bool],
    *,
    classify: Callable[[BaseException], ConnectorError],
    policy: RetryPolicy,
    what: str,
) -> None:
    """Send a write until it lands, never resending one that may have been applied.

    A write can reach the platform and its answer still be lost (HTTP 500, a dropped
    connection, UNAVAILABLE). After a retryable failure ``landed()`` reads the platform back:
    when it already holds the new value nothing is sent again; otherwise the write is retried
    with backoff, up to the policy's limit. Platforms count every edit (Meta's learning phase,
    its hourly edit limit), so "same value, sent again" is not harmless.
    """
    attempt = 0
    while True:
        attempt += 1
        deadline.check(what)
        try:
            write()
            return
        except Exception as exc:  # classified below; the unretryable re-raise at once
            try:
                wait = retry_wait(exc, attempt, classify=classify, policy=policy, what=what)
            except ConnectorError as err:
                if err.kind in RETRYABLE and _landed_quietly(landed):
                    return
                raise
            deadline.sleep(wait, what, policy.sleep)
            if landed():
                log.info("%s: applied before its answer was lost; not sent again", what)
                return


def _landed_quietly(landed: Callable[[], bool]) -> bool:
    """Whether the last write landed; a failing read-back keeps the write's own error."""
    try:
        return landed()
    except ConnectorError:
        return False
