"""Fast reads under load: rendered response bytes and checked tokens, kept per worker.

A cached response is served while the *data version* it was rendered from is unchanged. The
version (a few max/count queries on small tables) is itself re-read at most every
``[service] freshness_seconds``, and at once after this worker commits a write, so a reader
sees another worker's change within that time and its own immediately. Hits skip the
database and pydantic entirely: the bytes go out as they are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Response

from campaigns.auth import Principal

MAX_ENTRIES = 512
JSON = "application/json"


class ResponseCache:
    def __init__(self, *, ttl_seconds: float, freshness_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.freshness = freshness_seconds
        self._stamps: dict[str, tuple[float, Hashable]] = {}
        self._entries: dict[Hashable, tuple[float, Hashable, bytes]] = {}
        self._guard = threading.Lock()

    def stamp(self, kind: str, read: Callable[[], Hashable]) -> Hashable:
        """The data version of ``kind``, re-read when older than the freshness window."""
        now = time.monotonic()
        known = self._stamps.get(kind)
        if known is not None and now - known[0] < self.freshness:
            return known[1]
        value = read()
        self._stamps[kind] = (now, value)
        return value

    def invalidate(self) -> None:
        """Forget the data versions (after a write): the next read checks the database."""
        self._stamps.clear()

    def get(self, key: Hashable, stamp: Hashable) -> Response | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[1] != stamp or time.monotonic() - entry[0] > self.ttl:
            return None
        return Response(entry[2], media_type=JSON)

    def put(self, key: Hashable, stamp: Hashable, model: Any) -> Response:
        body = model.model_dump_json().encode()
        if self.ttl > 0:
            with self._guard:
                if len(self._entries) >= MAX_ENTRIES:
                    oldest = min(self._entries, key=lambda k: self._entries[k][0])
                    self._entries.pop(oldest, None)
                self._entries[key] = (time.monotonic(), stamp, body)
        return Response(body, media_type=JSON)


class PrincipalCache:
    """Tokens checked recently, by their secret's hash; a revocation here clears it."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        if self.ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = (time.monotonic(), principal)

    def clear(self) -> None:
        self._entries.clear()
