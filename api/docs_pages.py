"""The interactive API reference at ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served
from assets vendored under ``api/static/vendor`` so that both work with no internet access
(FastAPI's defaults load them from a CDN, and the page is blank offline)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui.css"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# validatorUrl: Swagger UI would otherwise send the schema to validator.swagger.io
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": True}
# Nothing from elsewhere, whatever a bundle tries (ReDoc's footer fetches a logo from its CDN).
# The pages start their viewers from an inline script; ReDoc runs its search in a blob: worker.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' "
        "blob:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(HEADERS)
    return page


def install(app: FastAPI) -> None:
    """Add the pages; the app must be built with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} · API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _offline(get_swagger_ui_html(
            openapi_url=openapi_url, title=title, swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS, swagger_favicon_url=FAVICON,
            oauth2_redirect_url=OAUTH2_REDIRECT, swagger_ui_parameters=SWAGGER_PARAMETERS,
        ))

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _offline(get_redoc_html(
            openapi_url=openapi_url, title=title, redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON, with_google_fonts=False,
        ))
