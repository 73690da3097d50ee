"""Platform rate limits shared by every process that calls a platform.

Two things are held per scope (Meta's app and ad account, Google's developer token and
customer, the sandbox's app and account):

- **a budget of calls per window** (``"200/minute"``, the ``limits`` library's notation),
  counted in a moving window, so no window of that length ever holds more calls;
- **a pause** the platform asked for: a usage header over the threshold, or a throttled
  answer with its retry delay. Every process sees it and waits it out before its next call
  in that scope, so no worker calls (or retries) before the platform said it may.

Both live in a ``limits`` storage: Redis when workers run (the broker's Redis, by default),
else the process's memory, so the in-process sync keeps the same rules. Times are wall-clock
seconds (``time.time``): the processes sharing one Redis are expected to keep NTP time.

Two clocks, on purpose: the ``limits`` library stamps each call of a window with its own
``time.time()`` (there is no clock to give it: memory or Redis, every process stamps its own
calls), so the window, and the wait until it has room again, are on that clock. The pauses are
ours, on :attr:`PlatformLimits.clock` (``time.time`` too unless a test injects one). A wait is
never measured across the two: an injected clock moves the pauses and leaves the window's wait
to the window's own clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors import deadline
from connectors.base import ConnectorError

if TYPE_CHECKING:  # `limits` is imported where a limit is used: not every command calls out
    from limits import RateLimitItem
    from limits.storage import Storage
    from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)
Scope = tuple[str, str]  # (kind of budget, whose): ("meta_app", "3f2a…"), ("meta_account", "act_1")
MEMORY = "memory://"
PREFIX = "budgetpilot:limits"

# Sets the pause to the later of the stored and the new end; a pause is never shortened.
_EXTEND = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return redis.call('GET', KEYS[1])
"""


def rule(text: str | None, what: str) -> RateLimitItem | None:
    """A ``"N/period"`` option as a limit; a clear error naming the option when it is not one."""
    if not text:
        return None
    from limits import parse

    try:
        return parse(text)
    except ValueError:
        from connectors.settings import SettingsError

        raise SettingsError(
            f"{what}: {text!r} is not a rate (write it as \"200/minute\", \"10/second\")"
        ) from None


@dataclass
class PlatformLimits:
    """Calls per window and platform pauses per scope, in one storage (one per process and
    storage: :func:`limits_for`). Each connector brings its own budgets per scope kind and
    its retry policy's sleep; ``clock`` (the pauses' clock) is injectable.
    """

    storage_uri: str = MEMORY
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        self._pid = -1
        self._lock = threading.Lock()
        self._pauses: dict[str, float] = {}  # memory storage: key -> until

    @property
    def shared(self) -> bool:
        return not self.storage_uri.startswith(MEMORY)

    def _connect(self) -> tuple[Storage, MovingWindowRateLimiter]:
        # After a fork (prefork pool) the parent's connections are not ours to use.
        if self._pid != os.getpid():
            from limits.storage import Storage, storage_from_string
            from limits.strategies import MovingWindowRateLimiter

            storage = storage_from_string(self.storage_uri)
            assert isinstance(storage, Storage)  # a sync scheme (redis://, memory://)
            self._storage = storage
            self._window = MovingWindowRateLimiter(self._storage)
            self._redis: Any = None
            if self.shared:
                import redis

                self._redis = redis.Redis.from_url(self.storage_uri)
                self._extend = self._redis.register_script(_EXTEND)
            self._pid = os.getpid()
        return self._storage, self._window

    # -- pauses ----------------------------------------------------------------------------

    def pause(self, scope: Scope, seconds: float, why: str) -> None:
        """No call in ``scope`` for ``seconds`` from now, in every process sharing the storage."""
        if seconds <= 0:
            return
        until = self.clock() + seconds
        key = f"{PREFIX}:pause:{scope[0]}:{scope[1]}"
        self._connect()
        if self._redis is not None:
            self._extend(keys=[key], args=[repr(until), int(seconds * 1000) + 1000])
        else:
            with self._lock:
                self._pauses[key] = max(self._pauses.get(key, 0.0), until)
        log.warning("%s %s paused for %.1fs: %s", scope[0], scope[1], seconds, why)

    def paused_for(self, scope: Scope) -> float:
        """Seconds left of the pause on ``scope`` (0 when none)."""
        key = f"{PREFIX}:pause:{scope[0]}:{scope[1]}"
        self._connect()
        if self._redis is not None:
            raw = self._redis.get(key)
            until = float(raw) if raw else 0.0
        else:
            with self._lock:
                until = self._pauses.get(key, 0.0)
        return max(0.0, until - self.clock())

    # -- a turn to call --------------------------------------------------------------------

    def wait_turn(
        self, scopes: Iterable[Scope], what: str, *,
        rules: Mapping[str, RateLimitItem | None] | None = None,
        sleep: Callable[[float], None] = time.sleep, max_wait: float = 900.0,
    ) -> float:
        """Block until every scope is out of its pause and has a call left in its window
        (``rules``: the budget per scope kind; kinds without one are only paused), and take
        that call. Returns the seconds waited. A pause longer than ``max_wait`` raises a
        throttled :class:`ConnectorError` (with the wait) instead of holding a worker."""
        deadline.check(what)  # a task past its own time limit sends nothing more
        rules = rules or {}
        scopes = list(scopes)
        waited = 0.0
        for scope in scopes:
            left = self.paused_for(scope)
            if left > max_wait:
                raise ConnectorError(
                    f"{what}: the platform paused {scope[0]} {scope[1]} for {left:.0f}s more; "
                    "giving up for now", kind="throttled", retry_after=left)
            if left > 0:
                log.info("%s: waiting %.1fs for %s %s", what, left, scope[0], scope[1])
                deadline.sleep(left, what, sleep)
                waited += left
        _, window = self._connect()
        for scope in scopes:
            item = rules.get(scope[0])
            if item is None:
                continue
            while not window.hit(item, PREFIX, scope[0], scope[1]):
                reset, _ = window.get_window_stats(item, PREFIX, scope[0], scope[1])
                # ``reset`` is on the library's clock (see the module's note), not ours.
                wait = max(0.001, reset - time.time())
                deadline.sleep(wait, what, sleep)
                waited += wait
        return waited


_shared: dict[str, PlatformLimits] = {}
_shared_lock = threading.Lock()


def limits_for(storage_uri: str | None) -> PlatformLimits:
    """One :class:`PlatformLimits` per storage in this process (memory when ``None``), so the
    connectors of one process share their in-memory pauses as workers share Redis."""
    uri = storage_uri or MEMORY
    with _shared_lock:
        if uri not in _shared:
            _shared[uri] = PlatformLimits(uri)
        return _shared[uri]
