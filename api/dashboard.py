"""The approvers' dashboard: server-rendered pages at ``/`` and ``/dashboard``, one per
campaign at ``/campaigns/{id}``, the pacing board at ``/pacing`` and finance at ``/finance``,
plus their scripts and styles under ``/static``. Every page extends ``templates/_page.html``
(Jinja, escaped): one header with the sign-in, the portfolio picker and the pages, filled in
by :func:`page_context`. The pages hold no data: their scripts call the JSON API with the
token the user pastes (kept in sessionStorage), so the API's roles apply as they are.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


# Every page extends templates/_page.html: one header, picker and nav for all of them.
PAGES = (("/dashboard", "Approvals"), ("/pacing", "Pacing"), ("/finance", "Finance"),
         ("/plans", "Plans, caps and locks"))
_pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                     autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                     trim_blocks=False, lstrip_blocks=False)


def page_context(request: Request, current: str, *, title: str, skip: str, script: str,
                 token_role: str, who_edits: str, styles: tuple[str, ...] = ("workspace.css",),
                 main_id: str = "page", **extra: object) -> dict[str, object]:
    """What the shared header needs: the API prefix, the portfolios to pick from, the pages
    (``current`` marked), and how to get a token for this page's work."""
    names = [p.name for p in request.app.state.settings.portfolios] or ["default"]
    return {"api": request.app.state.api_prefix, "portfolios": names, "pages": PAGES,
            "current": current, "title": title, "skip": skip, "script": script,
            "token_role": token_role, "who_edits": who_edits, "styles": styles,
            "main_id": main_id, "body_data": {}, **extra}


def _page(name: str, context: dict[str, object]) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(name).render(context), headers=HEADERS)


def render(request: Request) -> str:
    threshold = request.app.state.config.service.auto_approve_max_change
    return _pages.get_template("dashboard.html").render(page_context(
        request, "/dashboard", title="approvals", skip="the dashboard", script="dashboard.js",
        main_id="board", token_role="manager",
        who_edits="Managers approve, apply and roll back shifts; viewers read.",
        body_data={"threshold": f"{threshold:g}"}, threshold_pct=f"{threshold:.0%}"))


@router.get("/", response_class=HTMLResponse)
@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    return HTMLResponse(render(request), headers=HEADERS)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: int) -> HTMLResponse:
    """One campaign: its series, response curve and budget trail (campaign.js fills it). No
    portfolio picker: the campaign belongs to one."""
    return _page("campaign.html", page_context(
        request, "", title=f"campaign {campaign_id}", skip="the campaign", script="campaign.js",
        token_role="viewer", who_edits="Anyone signed in reads a campaign; managers approve "
        "its moves on the dashboard.", styles=("completion.css", "workspace.css"),
        body_data={"campaign": str(campaign_id)}, campaign_id=campaign_id, portfolios=[]))


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request) -> HTMLResponse:
    """Monthly plans, caps and locks, with scope pickers and a CSV upload (plans.js fills it)."""
    return _page("plans.html", page_context(
        request, "/plans", title="plans, caps and locks", skip="the plans", script="plans.js",
        token_role="finance", who_edits="Finance edits plans, managers edit caps and locks."))


@router.get("/pacing", response_class=HTMLResponse)
def pacing_page(request: Request) -> HTMLResponse:
    """The pacing board: month to date, plan and forecast per scope, past months, alerts."""
    return _report_page(request, "/pacing", "pacing", "the pacing board", "viewer",
                        "Anyone signed in reads pacing; managers and finance acknowledge alerts.")


@router.get("/finance", response_class=HTMLResponse)
def finance_page(request: Request) -> HTMLResponse:
    """Spend against plan and forecast by month x network x account, with its CSV."""
    return _report_page(request, "/finance", "finance", "the finance report", "finance",
                        "Every role reads this report and downloads its CSV.")


def _report_page(request: Request, path: str, title: str, skip: str, role: str,
                 who_edits: str) -> HTMLResponse:
    pacing = request.app.state.config.pacing
    return _page(f"{title}.html", page_context(
        request, path, title=title, skip=skip, script=f"{title}.js", token_role=role,
        who_edits=who_edits, styles=("reports.css", "workspace.css"),
        over_pct=f"{pacing.over_threshold:.0%}", under_pct=f"{pacing.under_threshold:.0%}"))


def install(app: FastAPI, api_prefix: str) -> None:
    app.state.api_prefix = api_prefix
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
