"""The approvers' dashboard: server-rendered pages at ``/`` and ``/dashboard``, one per
campaign at ``/campaigns/{id}``, the pacing board at ``/pacing`` and finance at ``/finance``,
plus their scripts and styles under ``/static``. The pages hold no data: their scripts call
the JSON API with the token the user pastes (kept in sessionStorage), so the API's roles apply
as they are.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@cache
def _template(name: str = "dashboard.html") -> Template:
    return Template((HERE / "templates" / name).read_text(encoding="utf-8"))


def _portfolio_options(request: Request) -> str:
    names = [p.name for p in request.app.state.settings.portfolios] or ["default"]
    return "".join(f'<option value="{html.escape(n)}">{html.escape(n)}</option>' for n in names)


def render(request: Request) -> str:
    threshold = request.app.state.config.service.auto_approve_max_change
    return _template().substitute(
        api=html.escape(request.app.state.api_prefix), portfolios=_portfolio_options(request),
        threshold=f"{threshold:g}", threshold_pct=f"{threshold:.0%}",
    )


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    return HTMLResponse(render(request), headers=HEADERS)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: int) -> HTMLResponse:
    """One campaign: its series, response curve and budget trail (campaign.js fills it)."""
    page = _template("campaign.html").substitute(
        api=html.escape(request.app.state.api_prefix), campaign_id=str(campaign_id))
    return HTMLResponse(page, headers=HEADERS)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request) -> HTMLResponse:
    """Monthly plans, caps and locks, with scope pickers and a CSV upload (plans.js fills it)."""
    page = _template("plans.html").substitute(
        api=html.escape(request.app.state.api_prefix), portfolios=_portfolio_options(request))
    return HTMLResponse(page, headers=HEADERS)


@router.get("/pacing", response_class=HTMLResponse)
def pacing_page(request: Request) -> HTMLResponse:
    """The pacing board: month to date, plan and forecast per scope, past months, alerts."""
    return _report_page(request, "pacing.html")


@router.get("/finance", response_class=HTMLResponse)
def finance_page(request: Request) -> HTMLResponse:
    """Spend against plan and forecast by month x network x account, with its CSV."""
    return _report_page(request, "finance.html")


def _report_page(request: Request, name: str) -> HTMLResponse:
    pacing = request.app.state.config.pacing
    page = _template(name).substitute(
        api=html.escape(request.app.state.api_prefix), portfolios=_portfolio_options(request),
        over_pct=f"{pacing.over_threshold:.0%}", under_pct=f"{pacing.under_threshold:.0%}")
    return HTMLResponse(page, headers=HEADERS)


def install(app: FastAPI, api_prefix: str) -> None:
    app.state.api_prefix = api_prefix
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
