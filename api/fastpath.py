"""Fast reads under load: rendered response bytes and checked tokens, kept per worker.

A cached response is served while the *data version* it was rendered from is unchanged. The
version (a few max/count queries on small tables) is itself re-read at most every
``[service] freshness_seconds``, and at once after this worker commits a write, so a reader
sees another worker's change within that time and its own immediately. Hits skip the
database and pydantic entirely: the bytes go out as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import random
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from campaigns.admin.auth import Action, Principal, hash_token

log = logging.getLogger("budgetpilot.api")
MAX_ENTRIES = 512
JSON = "application/json"


StampReader = Callable[[Session], Hashable]


def private_cache_dir(engine: Engine, base: Path | None = None) -> Path | None:
    """The folder where the workers of one service share rendered reports, or None when no
    safe one can be had (each worker then keeps its own).

    Under ``$XDG_RUNTIME_DIR`` (the user's own) or the temporary folder, in
    ``budgetpilot-<uid>/<database>``: both levels are made 0700 and checked, since anyone can
    create a name in /tmp first. One folder per resolved database (the password left out), so
    two services on different SQLite files never read each other's reports.
    """
    if base is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        base = Path(runtime) if runtime and _unsafe(runtime) is None else None
        base = base or Path(tempfile.gettempdir())
    root = private_dir(base / f"budgetpilot-{os.geteuid()}")
    return private_dir(root / database_key(engine)) if root is not None else None


def database_key(engine: Engine) -> str:
    """A name for the database ``engine`` opens: its URL without password, with a SQLite
    file's path made absolute (``sqlite:///budgetpilot.db`` in two folders is two databases)."""
    url = engine.url.set(password=None)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:32]


def _unsafe(path: str | Path) -> str | None:
    """Why ``path`` is not a folder only we can use, or None. Never follows a symlink."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if st.st_uid != os.geteuid():
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"other users may use it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def private_dir(path: Path, *, recreate: bool = True) -> Path | None:
    """``path`` as a folder only this user can enter (0700, ours, not a symlink), or None.

    An existing folder of ours that others could enter is removed and made again (with
    ``recreate``): what is in it may have been planted. One of another user, or a symlink, is
    refused.
    """
    for attempt in range(2):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            log.warning("no shared response cache: cannot create %s: %s", path, e.strerror)
            return None
        problem = _unsafe(path)
        if problem is None:
            return path
        st = os.lstat(path)
        if (recreate and attempt == 0 and stat.S_ISDIR(st.st_mode)
                and st.st_uid == os.geteuid()):
            log.warning("response cache %s: %s; emptying and recreating it", path, problem)
            shutil.rmtree(path, ignore_errors=True)
            continue
        log.warning("no shared response cache: refusing %s: %s", path, problem)
        return None
    return None


class ResponseCache:
    def __init__(self, *, ttl_seconds: float, freshness_seconds: float,
                 readers: dict[str, StampReader], shared_dir: Path | None = None) -> None:
        self.ttl = ttl_seconds
        self.freshness = freshness_seconds
        self.readers = readers
        # Rendered bytes shared by the workers of one service (``serve --workers N``): one
        # worker computes a report for a data version, the others read its bytes.
        # checked, never emptied: the folder is the caller's (see :func:`private_cache_dir`)
        self.shared_dir = (private_dir(shared_dir, recreate=False) if shared_dir is not None
                           else None)
        self._stamps: dict[str, tuple[float, Hashable]] = {}
        self._entries: dict[Hashable, tuple[float, Hashable, bytes]] = {}
        # the same bytes by raw request (path, query, Accept), for :class:`FastReads`
        self._raw: dict[tuple[str, bytes, bytes], _Raw] = {}
        self._guard = threading.Lock()

    def stamp(self, kind: str, session: Session) -> Hashable:
        """The data version of ``kind``, re-read when older than the freshness window."""
        now = time.monotonic()
        known = self._stamps.get(kind)
        if known is not None and now - known[0] < self.freshness:
            return known[1]
        value = self.readers[kind](session)
        self._stamps[kind] = (now, value)
        return value

    def refresh(self, engine: Engine) -> None:
        """Re-read the versions in use, so that requests rarely have to (run in the
        background every half freshness window)."""
        kinds = list(self._stamps)
        if not kinds:
            return
        with Session(engine) as session:
            for kind in kinds:
                started = time.monotonic()
                self._stamps[kind] = (started, self.readers[kind](session))

    async def keep_fresh(self, engine: Engine) -> None:
        """The background task: refresh until cancelled; a failed read is retried later."""
        if self.freshness <= 0 or self.ttl <= 0:
            return
        while True:
            await asyncio.sleep(self.freshness / 2)
            try:
                await run_in_threadpool(self.refresh, engine)
                if random.random() < 0.01:
                    await run_in_threadpool(self.prune_shared)
            except Exception:  # the database may be away for a moment; requests still check
                log.warning("could not refresh the data versions", exc_info=True)

    def invalidate(self) -> None:
        """Forget the data versions (after a write): the next read checks the database."""
        self._stamps.clear()

    def get(self, key: Hashable, stamp: Hashable, *, request: Request, kind: str,
            action: Action, day: dt.date | None = None) -> Response | None:
        """The kept response for ``key`` at data version ``stamp``, if any."""
        if self.ttl <= 0 or _limited(request):
            return None
        entry = self._entries.get(key)
        body: bytes | None
        if entry is not None and entry[1] == stamp and time.monotonic() - entry[0] <= self.ttl:
            at, body = entry[0], entry[2]  # another spelling of it (Accept, query order)
        else:
            at, body = time.monotonic(), self._read_shared(key, stamp)
            if body is None:
                return None
        self._keep(key, stamp, body, request, kind, action, day, at)
        return Response(body, media_type=JSON)

    def put(self, key: Hashable, stamp: Hashable, model: Any, *, request: Request, kind: str,
            action: Action, day: dt.date | None = None) -> Response:
        """Render ``model`` once and keep its bytes; ``day`` when the answer depends on
        today's date (a default ``as_of``)."""
        body = model.model_dump_json().encode()
        if self.ttl > 0 and not _limited(request):
            self._keep(key, stamp, body, request, kind, action, day, time.monotonic())
            self._write_shared(key, stamp, body)
        return Response(body, media_type=JSON)

    def _keep(self, key: Hashable, stamp: Hashable, body: bytes, request: Request, kind: str,
              action: Action, day: dt.date | None, at: float) -> None:
        raw = (request.url.path, request.scope.get("query_string", b""),
               request.headers.get("accept", "").encode())
        with self._guard:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
                self._raw.clear()
            self._entries[key] = (at, stamp, body)
            self._raw[raw] = _Raw(kind, stamp, body, action, day, at)

    def _shared_path(self, key: Hashable, stamp: Hashable) -> Path | None:
        if self.shared_dir is None:
            return None
        return self.shared_dir / hashlib.sha256(repr((key, stamp)).encode()).hexdigest()

    def _read_shared(self, key: Hashable, stamp: Hashable) -> bytes | None:
        path = self._shared_path(key, stamp)
        try:
            if path is None or time.time() - path.stat().st_mtime > self.ttl:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def _write_shared(self, key: Hashable, stamp: Hashable, body: bytes) -> None:
        path = self._shared_path(key, stamp)
        if path is None:
            return
        try:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # atomic: a reader sees all of it or nothing
        except OSError:
            log.warning("could not share a cached response in %s", self.shared_dir)

    def prune_shared(self) -> None:
        """Drop shared responses older than the TTL."""
        if self.shared_dir is None:
            return
        cutoff = time.time() - max(self.ttl, 60)
        for path in self.shared_dir.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def raw_hit(self, path: str, query: bytes, accept: bytes) -> _Raw | None:
        """The kept bytes for this exact request, if its data version is known fresh."""
        entry = self._raw.get((path, query, accept))
        if entry is None:
            return None
        now = time.monotonic()
        known = self._stamps.get(entry.kind)
        if (known is None or now - known[0] >= self.freshness or known[1] != entry.stamp
                or now - entry.at > self.ttl):
            return None
        if entry.day is not None and entry.day != dt.datetime.now(dt.UTC).date():
            return None
        return entry


def _limited(request: Request) -> bool:
    """The caller's token is limited to some portfolios (its answers are its own)."""
    return getattr(request.state, "portfolios", None) is not None


class _Raw:
    __slots__ = ("action", "at", "body", "day", "kind", "stamp")

    def __init__(self, kind: str, stamp: Hashable, body: bytes, action: Action,
                 day: dt.date | None, at: float) -> None:
        self.kind, self.stamp, self.body, self.action, self.day, self.at = (
            kind, stamp, body, action, day, at)


class FastReads:
    """ASGI middleware answering a repeated GET from the kept bytes without entering the
    framework: only when the data version is known fresh (see :class:`ResponseCache`) and the
    caller's token was checked recently and its role may read it. Anything else — a miss, a
    stale version, an unknown token, the wrong role — goes through the normal route."""

    def __init__(self, app: ASGIApp, responses: ResponseCache,
                 principals: PrincipalCache) -> None:
        self.app, self.responses, self.principals = app, responses, principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = self._lookup(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", JSON.encode()),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _lookup(self, scope: Scope) -> bytes | None:
        headers = dict(scope["headers"])
        entry = self.responses.raw_hit(scope["path"], scope.get("query_string", b""),
                                       headers.get(b"accept", b""))
        if entry is None:
            return None
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        principal = self.principals.get(hash_token(token.strip()))
        if principal is None or not principal.allowed(entry.action):
            return None
        if principal.portfolios is not None:
            return None  # kept answers hold every portfolio: a limited token takes the route
        return entry.body


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
