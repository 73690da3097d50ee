"""Platform rate limits shared by every process that calls a platform.

Two things are held per scope (Meta's app and ad account, Google's developer token and
customer, the sandbox's app and account):

- **a budget of calls per window** (``"200/minute"``, the ``limits`` library's notation),
  counted in a moving window, so no window of that length ever holds more calls;
- **a pause** the platform asked for: a usage header over the threshold, or a throttled
  answer with its retry delay. Every process sees it and waits it out before its next call
  in that scope, so no worker calls (or retries) before the platform said it may.

Both live in Redis when workers run (the broker's Redis, by default), else in the process's
memory, so the in-process sync keeps the same rules.

A call takes a **turn** in its window: the window keeps the times of its last turns (twice
its ``budget``), given or promised, and a new one is the earliest time at least one window
after the ``budget``-th last (and not before the last one: turns are given in order). The
caller is told that time in one ask and sleeps until it, instead of asking again whenever the
window might have room: with hundreds of task slots waiting on one app's limit, asking again
made every waiter wake at the same freed call and ask, about 9 asks a call (30,000 a second
on Redis in a 5,000-account night); a turn is one ask. Turns are in order, so no window of
the limit's length holds more than the budget, in whichever process they were taken.

A turn is a time, but the call is sent when its thread wakes, and on a loaded machine a thread
wakes late: sent late, a call lands among the next turns' calls, and a second held up to 150
calls on a limit of 100 (bench/bench_rate_limit_herd.py). So turns are spaced
:data:`LATE_BY` more than the window (a call sent up to that late still finds its window
within the budget), and a call that wakes later than that gives its turn back and takes a
new one, up to :data:`RETAKES` times (then it goes: a call is not held back for ever). The
lateness is a span on this process's monotonic clock (from the answer to the wake), set
against the wait the window gave: no two clocks are compared.

Two clocks, on purpose: in Redis the turns are on Redis's own clock (``TIME`` in the script
that gives them: every process's turns on one clock, whatever its own says), in memory on
``time.time()``; the pauses are ours, on :attr:`PlatformLimits.clock` (``time.time`` too
unless a test injects one, and the processes sharing one Redis are expected to keep NTP
time). A wait is never measured across the two: an injected clock moves the pauses and leaves
the window's wait to the window's own clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors import deadline
from connectors.base import ConnectorError

if TYPE_CHECKING:  # `limits` is imported where a limit is used: not every command calls out
    from limits import RateLimitItem

log = logging.getLogger(__name__)
Scope = tuple[str, str]  # (kind of budget, whose): ("meta_app", "3f2a…"), ("meta_account", "act_1")
MEMORY = "memory://"
PREFIX = "budgetpilot:limits"
# A call this many seconds past its turn when it wakes gives the turn back and takes a new
# one; turns are spaced as much more than their window, so a call up to this late keeps its
# window within the budget. 50 ms of a second's window costs under 5% of its calls.
LATE_BY = 0.05
RETAKES = 3

# Sets the pause to the later of the stored and the new end; a pause is never shortened.
_EXTEND = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return redis.call('GET', KEYS[1])
"""

# Gives one turn in every window of KEYS (ARGV: budget, seconds per key, then the turn given
# back, or '') and returns the seconds until it and the turn. Each window is a list of its
# last turns, newest first (kept in order: a turn is never before the last one given), so
# its `budget`-th entry is the one a new turn must be a window (ARGV's seconds) after. One turn for
# all the call's windows, so a call that waits on one of them is not early in another. A
# turn given back (its caller woke too late to use it) leaves the windows first; each keeps
# twice its budget of turns, so that with some given back its `budget`-th is still there.
_TURN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local back = ARGV[2 * #KEYS + 1]
if back and back ~= '' then
  for _, key in ipairs(KEYS) do redis.call('LREM', key, 1, back) end
end
local at = now
for i, key in ipairs(KEYS) do
  local budget, seconds = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local last = redis.call('LINDEX', key, 0)
  if last then at = math.max(at, tonumber(last)) end
  local nth = redis.call('LINDEX', key, budget - 1)
  if nth then at = math.max(at, tonumber(nth) + seconds) end
end
local stamp = string.format('%.6f', at)
for i, key in ipairs(KEYS) do
  local budget, seconds = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('LPUSH', key, stamp)
  redis.call('LTRIM', key, 0, 2 * budget - 1)
  redis.call('PEXPIRE', key, math.ceil((at - now + seconds) * 1000) + 1000)
end
return {string.format('%.6f', at - now), stamp}
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
    # How late a call woke after its turn, measured in this process only.
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self._pid = -1
        self._lock = threading.Lock()
        self._pauses: dict[str, float] = {}  # memory storage: key -> until

    @property
    def shared(self) -> bool:
        return not self.storage_uri.startswith(MEMORY)

    def _connect(self) -> None:
        # After a fork (prefork pool) the parent's connections are not ours to use.
        if self._pid != os.getpid():
            self._redis: Any = None
            self._turns: dict[str, deque[float]] = {}  # memory storage: key -> last turns
            if self.shared:
                import redis

                self._redis = redis.Redis.from_url(self.storage_uri)
                self._extend = self._redis.register_script(_EXTEND)
                self._turn = self._redis.register_script(_TURN)
            self._pid = os.getpid()

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
        windows = [(scope, item) for scope in scopes if (item := rules.get(scope[0])) is not None]
        waited = self._wait_pauses(scopes, what, sleep, max_wait)
        turn: str | None = None  # the turn held, given back when a new one is taken
        retakes = 0
        while windows:
            asked = self.monotonic()
            wait, turn = self._take_turn(windows, give_back=turn)
            if wait <= 0:
                # A turn due at once is late by the answer's time at most (a process
                # whose threads wait for the interpreter, a slow Redis): rarely past LATE_BY.
                if self.monotonic() - asked <= LATE_BY or retakes >= RETAKES:
                    break
                retakes += 1
                continue
            due = self.monotonic() + wait
            deadline.sleep(wait, what, sleep)
            waited += wait
            late = self.monotonic() - due
            if late > LATE_BY and retakes < RETAKES:
                # Sent now, it would land among later turns' calls, past the budget there.
                retakes += 1
                log.debug("%s: woke %.3fs past its turn; taking another", what, late)
                continue
            # A pause recorded while this call waited for its turn (another worker's
            # throttled answer) holds it too; its turn is given back and a new one taken after.
            held = self._wait_pauses(scopes, what, sleep, max_wait)
            if not held:
                break
            waited += held
        return waited

    def _wait_pauses(self, scopes: list[Scope], what: str, sleep: Callable[[float], None],
                     max_wait: float) -> float:
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
        return waited

    def _take_turn(self, windows: list[tuple[Scope, RateLimitItem]], *,
                   give_back: str | None = None) -> tuple[float, str]:
        """One turn in every window, as early as they all allow (``give_back``: a turn this
        call took before and will not use, out of the windows first): the seconds until it,
        and the turn, to give back in its turn."""
        self._connect()
        keys = [_window_key(scope, item) for scope, item in windows]
        if self._redis is not None:
            args = [v for _, item in windows for v in (item.amount, spaced(item))]
            wait, stamp = self._turn(keys=keys, args=[*args, give_back or ""])
            return float(wait), stamp.decode() if isinstance(stamp, bytes) else str(stamp)
        with self._lock:
            now = time.time()
            turns = [self._turns.setdefault(key, deque(maxlen=2 * item.amount))
                     for key, (_, item) in zip(keys, windows, strict=True)]
            if give_back is not None:
                for t in turns:
                    if float(give_back) in t:
                        t.remove(float(give_back))
            at = next_turn(now, [(list(t), item.amount, spaced(item))
                                 for t, (_, item) in zip(turns, windows, strict=True)])
            for t in turns:
                t.appendleft(at)
            return at - now, repr(at)  # read back exactly when given back

    def calls_in_window(self, scope: Scope, item: RateLimitItem) -> int:
        """Turns given in ``scope``'s window now (those promised for later too)."""
        self._connect()
        key = _window_key(scope, item)
        if self._redis is not None:
            raw = self._redis.lrange(key, 0, -1)
            stamps = [float(v) for v in raw]
            secs, micros = self._redis.time()
            now = secs + micros / 1e6
        else:
            with self._lock:
                stamps = list(self._turns.get(key, ()))
            now = time.time()
        return sum(1 for at in stamps if at > now - item.get_expiry())


def next_turn(now: float, windows: Iterable[tuple[list[float], int, float]]) -> float:
    """The earliest turn at or after ``now`` in windows given as (their last turns, newest
    first; budget; seconds): a window after the budget-th last turn, and not before the last
    (turns in order). The memory twin of the ``_TURN`` script."""
    at = now
    for turns, budget, seconds in windows:
        if turns:
            at = max(at, turns[0])
        if len(turns) >= budget:
            at = max(at, turns[budget - 1] + seconds)
    return at


def spaced(item: RateLimitItem) -> float:
    """The seconds a limit's turns are kept apart by: its window, and :data:`LATE_BY` more,
    so that a call sent up to that late after its turn does not land in the next window's
    budget."""
    return item.get_expiry() + LATE_BY


def _window_key(scope: Scope, item: RateLimitItem) -> str:
    return f"{PREFIX}:turns:{scope[0]}:{scope[1]}:{item.amount}/{item.get_expiry()}"


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
