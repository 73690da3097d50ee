"""The FastAPI application: JSON under /api/v1, the approvers' dashboard at /, OpenAPI at
/openapi.json, /docs and /redoc."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.routing import Route, compile_path

from api import dashboard, docs_pages, problems
from api.caching import CachedReads, Responses
from api.limits import RequestGate
from api.problems import PROBLEM_MEDIA_TYPE, Problem
from campaigns.admin.auth import PERMISSIONS, Action
from campaigns.config import Settings
from campaigns.jobs.appliers import production_applier
from campaigns.policy import service_config
from campaigns.reports.cache import Cache, Clock, data_stamp
from campaigns.shifts.lifecycle import ItemApplier
from campaigns.shifts.lifecycle import data_version as shift_versions

API_PREFIX = "/api/v1"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc}
    for code, desc in {
        400: "Bad request", 401: "Missing or invalid token", 403: "Role not allowed",
        404: "Not found", 409: "Conflict (stale version, wrong state, duplicate)",
        413: "Request body too large", 422: "Invalid input", 503: "Database unavailable",
    }.items()
}


def _routers() -> list[APIRouter]:
    from api.routes import (
        alerts,
        campaign_results,
        catalog,
        fx,
        kpis,
        lag_curves,
        nightly,
        optimizations,
        plans,
        reports,
        scopes,
        shifts,
        tokens,
    )
    from api.routes.campaign_page import router as campaign_page  # the campaign page's reads

    return [catalog.router, campaign_results.router, plans.router, fx.router, reports.router,
            kpis.router, optimizations.router, shifts.router, alerts.router, tokens.router,
            nightly.router, campaign_page, scopes.router, lag_curves.router]


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every endpoint. FastAPI 0.165 keeps included routers as lazy
    ``_IncludedRouter`` entries in ``app.routes``; their routes are read from the router."""
    out: list[tuple[str, APIRoute]] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            out.append((route.path, route))
        original = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if original is not None:
            prefix = getattr(context, "prefix", "")
            out.extend((prefix + r.path, r) for r in original.routes if isinstance(r, APIRoute))
    return out


def route_action(route: APIRoute) -> Action | None:
    """The action an endpoint requires, read from its ``require(...)`` dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        action = getattr(dep.call, "action", None)
        if isinstance(action, Action):
            return action
        stack.extend(dep.dependencies)
    return None


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    actions = {
        (path, method.lower()): route_action(route)
        for path, route in api_routes(app) for method in route.methods or ()
    }
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            action = actions.get((path, method))
            if action is not None:
                roles = ", ".join(sorted(PERMISSIONS[action]))
                op["description"] = (op.get("description", "") + f"\n\nRoles: {roles}.").strip()
                op["x-roles"] = sorted(PERMISSIONS[action])
            for code, response in op.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings, engine: Engine, *, applier: ItemApplier | None = None,
    scheduler: bool = False, shared_cache: Path | None = None, clock: Clock = time.monotonic,
) -> FastAPI:
    """The application. With ``scheduler`` it runs the nightly scheduler while it serves,
    when the config enables it; ``shared_cache`` is a folder where the workers of one
    service share rendered reports (``budgetpilot serve`` passes both; tests do not).
    ``clock`` times every cache (tests move it instead of sleeping)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from api.scheduler import start_scheduler

        jobs = start_scheduler(settings, engine) if scheduler else None
        app.state.scheduler = jobs
        fresh = asyncio.create_task(app.state.responses.keep_fresh(engine))
        try:
            yield
        finally:
            fresh.cancel()
            if jobs is not None:
                jobs.shutdown(wait=False)

    app = FastAPI(
        title="budgetpilot",
        version="0.1.0",
        description="Campaign plans, pacing, finance reports and the approval of budget shifts.",
        lifespan=lifespan, docs_url=None, redoc_url=None,  # served offline by docs_pages
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.config = service_config(settings)
    app.state.applier = applier or production_applier(settings)
    policy = app.state.config.service
    app.state.cache = Cache(policy.cache_seconds, maxsize=256, timer=clock)  # reports
    app.state.responses = Responses(
        ttl_seconds=policy.cache_seconds, freshness_seconds=policy.freshness_seconds,
        version=data_version, shared_dir=shared_cache, timer=clock,
    )
    app.state.principals = Cache(policy.auth_cache_seconds, timer=clock)  # tokens, by hash
    app.add_middleware(CachedReads, responses=app.state.responses)
    # outermost: no body is read, and no cached answer given, before the token is checked
    app.add_middleware(RequestGate, prefix=API_PREFIX, max_body_bytes=policy.max_body_bytes,
                       engine=engine, principals=app.state.principals)
    problems.install(app)
    for router in _routers():
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    from api.routes.automation import router as automation_router  # the kill switch

    app.include_router(automation_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)

    dashboard.install(app, API_PREFIX)
    docs_pages.install(app)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # FastAPI's documented hook for a custom schema is replacing the method
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.allowed_methods = _method_index(app)
    return app


def data_version(session: Session) -> tuple[Any, ...]:
    """The version of everything the cached answers show: reports (syncs, plans, FX) and
    shifts. Either changing changes it."""
    return (*data_stamp(session), *shift_versions(session))


def _method_index(app: FastAPI) -> Callable[[str], list[str]]:
    """The methods each path answers, for the ``Allow`` header of a 405."""
    index: list[tuple[re.Pattern[str], set[str]]] = []
    for route in app.routes:
        if isinstance(route, Route | APIRoute) and not getattr(route, "original_router", None):
            index.append((route.path_regex, set(route.methods or ())))
    index.extend((compile_path(path)[0], set(route.methods or ()))
                 for path, route in api_routes(app))

    def allowed(path: str) -> list[str]:
        methods: set[str] = set()
        for regex, found in index:
            if regex.match(path):
                methods |= found
        return sorted(methods)

    return allowed
