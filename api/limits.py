"""The gate in front of the API: who may send a body, and how big it may be.

FastAPI reads and parses a request body before it resolves the dependencies that check the
token, so without this gate anyone could make a worker hold hundreds of megabytes. Here, before
a byte of the body is read:

- a request under the API prefix must hold a live bearer token, checked against the database
  (or the recently checked tokens): without one, or with an unknown or revoked one, it is
  answered 401. This is the one token check: the principal found is left in the request's
  state for the routes' dependencies (:func:`api.deps.get_current_user`) and the cached reads;
- a declared ``Content-Length`` above ``[service] max_body_bytes`` is answered 413, and a body
  without one (chunked) is counted while it streams in and cut off with 413 at the limit.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE
from campaigns.admin.auth import Principal, authenticate, hash_token
from campaigns.db import database_busy, is_locked
from campaigns.errors import AuthenticationError
from campaigns.reports.cache import Cache

PRINCIPAL = "principal"  # the key of the checked caller in the ASGI scope's state


class RequestGate:
    def __init__(self, app: ASGIApp, *, prefix: str, max_body_bytes: int, engine: Engine,
                 principals: Cache[Principal]) -> None:
        self.app, self.prefix, self.max_body = app, prefix, max_body_bytes
        self.engine, self.principals = engine, principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            token = _bearer(scope)
            if not token:
                await _problem(send, 401, "Unauthorized",
                               "missing bearer token (Authorization: Bearer <token>)")
                return
            try:
                principal = await self._principal(token)
            except AuthenticationError as exc:
                await _problem(send, 401, "Unauthorized", exc.message)
                return
            except DBAPIError as exc:
                if is_locked(exc):  # what waited and what to do, not the statement
                    busy = database_busy(f"{scope['method']} {path}")
                    await _problem(send, busy.status_code, busy.title, busy.message)
                else:
                    await _problem(send, 503, "Database unavailable",
                                   "the database is busy or unreachable; retry shortly")
                return
            scope.setdefault("state", {})[PRINCIPAL] = principal
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _problem(send, 413, "Content too large",
                           f"the body may be at most {self.max_body} bytes")
            return
        await self.app(scope, _Counted(receive, self.max_body).receive, send)

    async def _principal(self, token: str) -> Principal:
        key = hash_token(token)
        principal = self.principals.get(key)
        if principal is None:
            principal = self.principals.put(
                key, await run_in_threadpool(self._authenticate, token))
        return principal

    def _authenticate(self, token: str) -> Principal:
        with Session(self.engine) as session:
            principal = authenticate(session, token)
            session.commit()  # the coarse last_used_at
            return principal


class _Counted:
    """A ``receive`` that counts the body and stops at the limit: the 413 it raises passes
    through FastAPI's body reading to the problem handlers, and the rest is never read."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive, self.limit, self.seen = receive, limit, 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise HTTPException(413, f"the body may be at most {self.limit} bytes")
        return message


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail}).encode()
    headers: list[Any] = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                          (b"content-length", str(len(body)).encode()),
                          (b"connection", b"close")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
