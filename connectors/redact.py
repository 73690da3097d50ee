"""Secrets never leave the process: one function that blanks them out of any text.

An SDK error often quotes the request it failed on: the Graph URL with ``access_token`` and
``appsecret_proof``, gRPC metadata with the developer token and ``Bearer`` header, an OAuth form
with the refresh token and client secret. :func:`redact` removes those by shape (query and form
parameters, JSON and dict entries, ``Authorization`` values, database URL passwords, our own
``bp_`` tokens) and removes, wherever it appears, every exact value registered with
:func:`remember_secret` (each secret read from the environment, collected at start-up).

It is applied where an error is made (the connectors' error text) and again at every place text
leaves the process: log records (:func:`install_log_redaction`), stored errors, API responses,
webhook payloads. It imports nothing of ours, so connectors and campaigns can both use it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Shorter values are too likely to be ordinary words or numbers to blank everywhere.
MIN_SECRET_LENGTH = 6

_NAME = (
    r"[A-Za-z0-9_.-]*(?:token|secret|proof|password|passwd|pwd|api[_-]?key|apikey|"
    r"authorization|credential)[A-Za-z0-9_.-]*"
)
_KEYWORDS = ("token", "secret", "proof", "password", "passwd", "pwd", "api_key", "api-key",
             "apikey", "authorization", "credential")
# (words one of which the lower-cased text must hold for the pattern to be tried, pattern,
# replacement): most texts hold none, and a substring test is far cheaper than a regex scan.
_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str], str]] = [
    # user:password@ in any URL (database, proxy, webhook)
    (("://",),
     re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)[^@\s/'\"]+(?=@)"),
     rf"\g<head>{REDACTED}"),
    # query string and form parameters: access_token=..., &appsecret_proof=...
    (_KEYWORDS,
     re.compile(rf"(?i)(?P<head>(?:^|[?&;\s,(\[{{])(?:{_NAME})=)(?!\[redacted\])"
                r"[^&\s'\"#,;)\]}]+"),
     rf"\g<head>{REDACTED}"),
    # JSON, Python dict reprs and gRPC metadata tuples: "refresh_token": "...",
    # ('developer-token', '...')
    (_KEYWORDS,
     re.compile(rf"(?i)(?P<head>(?P<q>['\"])(?:{_NAME})(?P=q)\s*[:,=]\s*(?P<v>['\"]))"
                r"(?:(?:bearer|basic|token)\s+)?[^'\"]*(?P=v)"),
     rf"\g<head>{REDACTED}\g<v>"),
    # header lines: "Authorization: Bearer ...", "x-api-key: ..."
    (("authorization", "api-key", "developer-token", "cookie"),
     re.compile(r"(?im)(?P<head>(?:^|(?<=[\s,{(]))(?:proxy-)?(?:authorization|x-api-key|api-key|"
                r"x-goog-api-key|developer-token|cookie)\s*:\s*)(?:(?:bearer|basic|token)\s+)?"
                r"[^\s'\",;]{6,}"),
     rf"\g<head>{REDACTED}"),
    # a bearer credential wherever it appears
    (("bearer",), re.compile(r"(?i)(?P<head>\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
     rf"\g<head>{REDACTED}"),
    # our own API tokens, Google OAuth access tokens, Meta user/system-user tokens
    (("bp_",), re.compile(r"\bbp_[A-Za-z0-9_-]{16,}"), REDACTED),
    (("ya29.",), re.compile(r"\bya29\.[A-Za-z0-9._-]{8,}"), REDACTED),
    (("eaa",), re.compile(r"\bEAA[A-Za-z0-9]{20,}"), REDACTED),
]
_BASIC = re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})")

_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None
_known_values: tuple[str, ...] = ()  # a snapshot, read without the lock
_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Blank ``value`` (and its URL-encoded spellings) out of everything :func:`redact` sees."""
    global _known_pattern, _known_values
    if not value or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    value = value.strip()
    spellings = {value, quote(value, safe=""), quote_plus(value)}
    with _lock:
        if spellings <= _known:
            return
        _known.update(spellings)
        # Longest first: a secret that contains another is blanked whole.
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(s) for s in ordered))
        _known_values = tuple(ordered)


def forget_secrets() -> None:
    """Drop the remembered values (tests)."""
    global _known_pattern, _known_values
    with _lock:
        _known.clear()
        _known_pattern, _known_values = None, ()


def _basic(match: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    # user:password is what a Basic credential holds; other base64 words are left alone
    return f"{match.group(0)[:6]}{REDACTED}" if b":" in decoded else match.group(0)


def redact(text: str) -> str:
    """``text`` with every secret it contains replaced by ``[redacted]``."""
    if not text:
        return text
    pattern, values = _known_pattern, _known_values
    if pattern is not None and any(value in text for value in values):
        text = pattern.sub(REDACTED, text)
    lower = text.lower()
    for hints, regex, replacement in _PATTERNS:
        if any(hint in lower for hint in hints):
            text = regex.sub(replacement, text)
    return _BASIC.sub(_basic, text) if "basic" in lower else text


def redact_optional(text: str | None) -> str | None:
    return redact(text) if text else text


def redact_data(value: Any) -> Any:
    """``value`` with every string in it redacted (dicts, lists: audit details, payloads)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v) for v in value)
    return value


# --- logging ------------------------------------------------------------------------------------

_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record this process makes, whatever handler writes it.

    A record factory, not a handler filter: records reach handlers nobody here configured
    (uvicorn's, the last-resort stderr handler, a test's capture), and a filter on the root
    logger does not see records that propagate to it. The message is formatted once here, and
    an exception's traceback too, since exception texts carry the URLs we are hiding.
    """
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


def redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the raw parts, redacted
        message = f"{record.msg} {record.args}"
    safe = redact(message)
    # Keep the arguments' shape where redacting them one by one gives the same text: some
    # formatters read ``record.args`` (uvicorn's access log unpacks it).
    args = record.args
    if safe == message:
        pass
    elif isinstance(args, tuple) and isinstance(record.msg, str):
        record.args = tuple(_safe_arg(a) for a in args)
        try:
            same = record.getMessage() == safe
        except Exception:
            same = False
        if not same:
            record.msg, record.args = safe, None
    else:
        record.msg, record.args = safe, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact(text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _safe_arg(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else str(value))


# --- start-up -----------------------------------------------------------------------------------


def remember_settings_secrets(settings: Any) -> None:
    """Remember the secrets a loaded config points at: the value of every ``*_env`` key
    (tokens, app secrets, client secrets, webhook URLs) and the database URL's password."""
    import os
    from urllib.parse import unquote, urlsplit

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                    remember_secret(os.environ.get(value))
                else:
                    walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    dump = getattr(settings, "model_dump", None)
    walk(dump() if callable(dump) else settings)
    url = getattr(settings, "database_url", None)
    if isinstance(url, str):
        try:
            password = urlsplit(url).password
        except ValueError:  # an unparsable URL: the pattern still hides user:pw@
            password = None
        if password:
            remember_secret(password)
            remember_secret(unquote(password))
