"""Every error leaves as ``application/problem+json`` (RFC 9457), rendered here and only here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaigns.db import database_busy, is_locked
from campaigns.errors import BudgetPilotError, ImportRejected
from connectors.redact import redact

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None  # the request's own fields (a 422 of validation)
    lines: list[dict[str, Any]] | None = None  # a rejected file's problems, by line and column


def problem(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = Problem(title=title, status=status, detail=redact(detail), **extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BudgetPilotError)
    if isinstance(exc, ImportRejected):
        # each bad cell as its own entry, so a page can show line and column without parsing
        return problem(exc.status_code, exc.title, exc.message,
                       lines=[_file_error(e) for e in exc.errors])
    return problem(exc.status_code, exc.title, exc.message)


_WHERE = re.compile(r"^line (?P<line>\d+)(?:, column (?P<column>[^:]+))?: (?P<msg>.*)$", re.S)


def _file_error(text: str) -> dict[str, Any]:
    """``line N, column C: what`` as ``{"line": N, "column": C, "msg": what}``."""
    m = _WHERE.match(text)
    if m is None:
        return {"line": None, "column": None, "msg": text}
    return {"line": int(m["line"]), "column": m["column"], "msg": m["msg"]}


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return problem(422, "Invalid input", detail, errors=errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 406: "Not acceptable",
              413: "Content too large"}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # every method of the path, not only those of the route the router matched first
        # (GET /plans/{id} and PUT /plans/{id} are separate routes)
        methods: Callable[[str], list[str]] | None = getattr(
            request.app.state, "allowed_methods", None)
        allowed = methods(request.url.path) if methods is not None else []
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                   headers=headers)


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    log.info("integrity error: %s", exc)
    return problem(409, "Conflict", "the change conflicts with existing data (duplicate or "
                   "missing reference)")


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataError):  # e.g. a NUL character or an out-of-range number
        return problem(422, "Invalid input", f"the database refused a value: {exc.orig}"[:300])
    if is_locked(exc):
        busy = database_busy(f"{request.method} {request.url.path}")
        log.warning("%s", busy.message)  # not the statement and its parameters
        return problem(busy.status_code, busy.title, busy.message)
    if isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", exc.orig)
        return problem(503, "Database unavailable", "the database is busy or unreachable; "
                       "retry shortly")
    log.exception("database error")
    return problem(500, "Internal error", "a database error occurred")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(BudgetPilotError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _unexpected)
