"""What :func:`connectors.redact.redact` blanks out, as real SDK and library texts show it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.redact import (
    forget_secrets,
    install_log_redaction,
    redact,
    remember_secret,
    remember_settings_secrets,
)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


CASES = [
    # requests' MaxRetryError for the Graph API
    ("Max retries exceeded with url: /v26.0/me/adaccounts?access_token=EAAB1x2&"
     "appsecret_proof=91c7ab&limit=500", ["EAAB1x2", "91c7ab"], ["limit=500"]),
    # gRPC invocation metadata as the Google Ads SDK prints it
    ("metadata=[('developer-token', 'DEVtok12345'), ('authorization', 'Bearer ya29.a0Abc'), "
     "('login-customer-id', '1000000001')]", ["DEVtok12345", "ya29.a0Abc"], ["1000000001"]),
    # the OAuth refresh form and its JSON twin
    ("grant_type=refresh_token&refresh_token=1//0gREFRESH&client_id=cid.apps&"
     "client_secret=GOCSPX-abc", ["1//0gREFRESH", "GOCSPX-abc"], ["cid.apps"]),
    ('{"refresh_token": "1//0gREFRESH", "client_secret":"shh-its-me", "name": "brand"}',
     ["1//0gREFRESH", "shh-its-me"], ['"name": "brand"']),
    ("Authorization: Bearer abcdef123456\nX-Request-Id: 42", ["abcdef123456"], ["X-Request-Id: 42"]),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA=="], []),
    ("token bp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg was used",
     ["bp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"], ["was used"]),
    ("cannot connect to postgresql+psycopg://bob:s3cr3t@db:5432/x", ["s3cr3t"], ["bob:", "@db:5432/x"]),
]


@pytest.mark.parametrize(("text", "hidden", "kept"), CASES)
def test_secrets_are_blanked_and_the_rest_stays_readable(
    text: str, hidden: list[str], kept: list[str]
) -> None:
    out = redact(text)
    assert not [h for h in hidden if h in out], out
    assert all(k in out for k in kept), out
    assert "[redacted]" in out
    assert redact(out) == out  # applied at the source and again at the sink: same text


@pytest.mark.parametrize("text", [
    "source meta: access token: environment variable META_TOKEN is not set",
    "Meta API error 190/460 HTTP 400: Error validating access token: session expired",
    "Basic information about the token",
    "token 5 for alice (viewer); condition_key=sync_failed:3",
])
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(secret=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=6,
                      max_size=40).filter(lambda s: s.strip() == s and s not in "[redacted]"),
       before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_remembered_value_never_survives(secret: str, before: str, after: str) -> None:
    remember_secret(secret)
    out = redact(f"{before}{secret}{after}")
    assert secret not in out


def test_settings_secrets_are_remembered_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from campaigns.config import settings_from_dict

    monkeypatch.setenv("T_TOKEN", "tok-from-env-1234")
    monkeypatch.setenv("T_HOOK", "https://hooks.example/services/T0/B0/xyz987654")
    monkeypatch.setenv("BUDGETPILOT_DATABASE_URL", "postgresql://u:pa%40ss-word@h/db")
    settings = settings_from_dict({
        "sources": [{"name": "m", "kind": "meta", "access_token_env": "T_TOKEN"}],
        "alerts": {"webhooks": [{"name": "ops", "url_env": "T_HOOK"}]},
    })
    remember_settings_secrets(settings)
    text = "tok-from-env-1234 posted to https://hooks.example/services/T0/B0/xyz987654 as pa@ss-word"
    assert redact(text) == "[redacted] posted to [redacted] as [redacted]"


def test_log_records_are_redacted_whatever_handler_writes_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    remember_secret("planted-in-a-log")
    log = logging.getLogger("budgetpilot.test")
    with caplog.at_level(logging.DEBUG):
        log.debug("GET %s", "/me?access_token=abcdef123456")
        try:
            raise RuntimeError("failed with planted-in-a-log")
        except RuntimeError:
            log.exception("boom")
    assert "abcdef123456" not in caplog.text and "planted-in-a-log" not in caplog.text
    assert "access_token=[redacted]" in caplog.text and "RuntimeError" in caplog.text
