"""Rendered API answers, kept per worker (and shared between the workers of one service).

An answer is kept under the key (request, caller's portfolio scope, *data version*, today),
in a :class:`~campaigns.reports.cache.Cache` like every other cache of the service. The
version (a few max/count queries on small tables) is itself a cache entry that lives
``[service] freshness_seconds`` and is dropped at once after this worker commits a write, so a
reader sees another worker's change within that time and its own immediately. A hit skips
the database and pydantic: the bytes go out as they are, marked private to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from api.limits import PRINCIPAL
from campaigns.admin.auth import Action, Principal
from campaigns.reports.cache import Cache, Clock

log = logging.getLogger("budgetpilot.api")
MAX_ENTRIES = 512
JSON = b"application/json"
PRIVATE = b"private, no-cache"  # the caller's own answer: no shared cache keeps it
VersionReader = Callable[[Session], Hashable]


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


VERSION = "data"


def utc_day() -> int:
    """Today (UTC) as a day number: changes at midnight, for the keys of kept answers."""
    return int(time.time() // 86400)


@dataclass(frozen=True, slots=True)
class Kept:
    """A rendered answer, and what a caller must be allowed to do to be given it."""

    body: bytes
    action: Action
    etag: bytes
    headers: list[tuple[bytes, bytes]]  # of a 200; the same list for every hit, never changed

    def reply(self, if_none_match: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, headers and body: 304 when the caller already holds these bytes."""
        if if_none_match and self._matches(if_none_match):
            return 304, [(b"cache-control", PRIVATE), (b"etag", self.etag)], b""
        return 200, self.headers, self.body

    def _matches(self, if_none_match: bytes) -> bool:
        tags = {t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")}
        return self.etag in tags or b"*" in tags


def kept(body: bytes, action: Action) -> Kept:
    etag = b'"%s"' % hashlib.sha256(body).hexdigest()[:32].encode()
    return Kept(body, action, etag, [
        (b"content-type", JSON), (b"content-length", b"%d" % len(body)),
        (b"cache-control", PRIVATE), (b"etag", etag)])


class Responses:
    """Rendered answers of the cached GET endpoints (pacing, finance, shift lists)."""

    def __init__(self, *, ttl_seconds: float, freshness_seconds: float, version: VersionReader,
                 shared_dir: Path | None = None, timer: Clock = time.monotonic,
                 today: Callable[[], Hashable] = utc_day) -> None:
        self.ttl, self.freshness, self.read_version, self.today = (
            ttl_seconds, freshness_seconds, version, today)
        # Rendered bytes shared by the workers of one service (``serve --workers N``): one
        # worker computes a report for a data version, the others read its bytes.
        # checked, never emptied: the folder is the caller's (see :func:`private_cache_dir`)
        self.shared_dir = (private_dir(shared_dir, recreate=False) if shared_dir is not None
                           else None)
        self._version: Cache[Hashable] = Cache(freshness_seconds, maxsize=1, timer=timer)
        self._kept: Cache[Kept] = Cache(ttl_seconds, maxsize=MAX_ENTRIES, timer=timer)

    def version(self, session: Session) -> Hashable:
        """The data version, re-read when older than the freshness window."""
        return self._version.get_or_compute(VERSION, lambda: self.read_version(session))

    def invalidate(self) -> None:
        """Forget the data version (after a write): the next read checks the database."""
        self._version.clear()

    def key(self, scope: Scope, principal: Principal, version: Hashable) -> Hashable:
        """The request as sent (path, query, Accept), the portfolios the caller may see, the
        data version and today (a default ``as_of`` is yesterday)."""
        portfolios = None if principal.portfolios is None else tuple(sorted(principal.portfolios))
        return (scope["path"], scope.get("query_string", b""), header(scope, b"accept"),
                portfolios, version, self.today())

    def answer(self, request: Request, session: Session, principal: Principal, action: Action,
               render: Callable[[], BaseModel]) -> Response:
        """The kept answer to this request at the current data version, else ``render()``
        kept (one rendering per key at a time)."""
        key = self.key(request.scope, principal, self.version(session))

        def rendered() -> Kept:
            shared = self._read_shared(key)
            if shared is not None:
                return kept(shared, action)
            fresh = kept(render().model_dump_json().encode(), action)
            self._write_shared(key, fresh.body)
            return fresh

        status, headers, body = self._kept.get_or_compute(key, rendered).reply(
            header(request.scope, b"if-none-match"))
        response = Response(body, status_code=status)
        response.raw_headers = list(headers)  # the framework may add to them
        return response

    def hit(self, scope: Scope, principal: Principal) -> Kept | None:
        """The kept answer for this exact request, if the data version is known fresh and the
        caller's role may read it; else None (the request takes the route)."""
        version = self._version.get(VERSION)
        if version is None:
            return None
        found = self._kept.get(self.key(scope, principal, version))
        return found if found is not None and principal.allowed(found.action) else None

    def refresh(self, engine: Engine) -> None:
        """Re-read the version while answers are kept, so that requests rarely have to."""
        if len(self._kept):
            with Session(engine) as session:
                self._version.put(VERSION, self.read_version(session))

    async def keep_fresh(self, engine: Engine) -> None:
        """The background task: refresh every half freshness window until cancelled; a failed
        read is retried later."""
        if self.freshness <= 0 or self.ttl <= 0:
            return
        while True:
            await asyncio.sleep(self.freshness / 2)
            try:
                await run_in_threadpool(self.refresh, engine)
                if random.random() < 0.01:
                    await run_in_threadpool(self.prune_shared)
            except Exception:  # the database may be away for a moment; requests still check
                log.warning("could not refresh the data version", exc_info=True)

    def _shared_path(self, key: Hashable) -> Path | None:
        if self.shared_dir is None:
            return None
        return self.shared_dir / hashlib.sha256(repr(key).encode()).hexdigest()

    def _read_shared(self, key: Hashable) -> bytes | None:
        path = self._shared_path(key)
        try:
            if path is None or time.time() - path.stat().st_mtime > self.ttl:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def _write_shared(self, key: Hashable, body: bytes) -> None:
        path = self._shared_path(key)
        if path is None or self.ttl <= 0:
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


def header(scope: Scope, name: bytes) -> bytes:
    """The first value of header ``name`` (lower case), or empty."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return b""


class CachedReads:
    """ASGI middleware answering a repeated GET from the kept bytes without entering the
    framework. It runs inside :class:`~api.limits.RequestGate`, which has checked the token,
    and uses the principal the gate found; a miss, a stale version or a role that may not
    read the answer goes through the normal route."""

    def __init__(self, app: ASGIApp, responses: Responses) -> None:
        self.app, self.responses = app, responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get(PRINCIPAL) if scope["type"] == "http" else None
        found = (self.responses.hit(scope, principal)
                 if principal is not None and scope["method"] == "GET" else None)
        if found is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = found.reply(header(scope, b"if-none-match"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
