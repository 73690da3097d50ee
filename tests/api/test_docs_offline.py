"""/docs and /redoc reference only assets the service serves itself (no CDN), and those
assets load."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

URL = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


def _references(page: str) -> list[str]:
    return [a or b for a, b in URL.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_page_loads_only_its_own_assets(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert "cdn." not in page.text and "fonts.googleapis" not in page.text
    refs = _references(page.text)
    assert any(r.endswith(".js") for r in refs), refs
    for ref in refs:
        assert ref.startswith("/"), f"{path} references {ref}, which is not served here"
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    assert "/openapi.json" in refs
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_swagger_ui_does_not_call_the_online_validator(client: TestClient) -> None:
    page = client.get("/docs").text
    assert '"validatorUrl": null' in page


def test_vendored_assets_have_their_types(client: TestClient) -> None:
    js = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    css = client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert "javascript" in js.headers["content-type"] and len(js.content) > 100_000
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/docs/oauth2-redirect").status_code == 200
