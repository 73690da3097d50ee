"""One place that decides what a platform failure means: auth, throttled, transient, fatal, invalid.

Both SDKs raise their own exception families; every connector call goes through
:func:`classify_meta` or :func:`classify_google` and only a :class:`ConnectorError` leaves the
connector. The retry rule in :mod:`connectors.retry` is built on the ``kind`` decided here, and
``tests/connectors/test_errors.py`` pins it with real error payloads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connectors.base import ConnectorError, ErrorKind
from connectors.redact import redact

if TYPE_CHECKING:  # imported where used: the Google SDK loads only with its connector
    from google.api_core.exceptions import GoogleAPICallError

# Meta: https://developers.facebook.com/docs/graph-api/overview/rate-limiting and
# .../marketing-api/error-reference. 4 app, 17 user, 32 page, 613 custom rate limit;
# 80000-80014 the business-use-case limits (ads insights, ads management, custom audiences...).
META_THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# 190 invalid/expired OAuth token, 102 session, 10 and 200-299 missing permission.
META_AUTH_CODES = frozenset({190, 102, 10, *range(200, 300)})
# 1 unknown (often "please reduce the amount of data"), 2 service temporarily unavailable.
META_TRANSIENT_CODES = frozenset({1, 2})
META_INVALID_CODES = frozenset({100})
# Subcodes that change the verdict of their code: 1487742/2446079 "too many calls for this ad
# account" come as code 17 already; 1885183 "user is not admin of the app" comes as 100.
META_AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467, 492, 1885183})


def _meta_message(code: Any, subcode: Any, message: str | None, status: Any) -> str:
    parts = [f"Meta API error {code}"]
    if subcode:
        parts[0] += f"/{subcode}"
    if status:
        parts.append(f"HTTP {status}")
    return f"{', '.join(parts)}: {message or 'no message'}"


def meta_usage_wait(headers: Any) -> float | None:
    """Seconds Meta asks us to wait, from the usage headers of a throttled response."""
    if not headers:
        return None
    waits: list[float] = []
    raw = _header(headers, "x-business-use-case-usage")
    if raw:
        try:
            for entries in json.loads(raw).values():
                for entry in entries:
                    minutes = entry.get("estimated_time_to_regain_access") or 0
                    if minutes:
                        waits.append(float(minutes) * 60)
        except (ValueError, AttributeError, TypeError):
            pass
    raw = _header(headers, "x-ad-account-usage")
    if raw:
        try:
            reset = json.loads(raw).get("reset_time_duration") or 0
            if reset:
                waits.append(float(reset))
        except (ValueError, AttributeError, TypeError):
            pass
    return max(waits) if waits else None


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.title())
    except AttributeError:
        return None
    return value


def classify_meta(exc: BaseException) -> ConnectorError:
    """Map a facebook-business (or requests) exception onto a :class:`ConnectorError`."""
    import requests
    from facebook_business.exceptions import FacebookError, FacebookRequestError

    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, FacebookRequestError):
        code = exc.api_error_code()
        subcode = exc.api_error_subcode()
        status = exc.http_status()
        message = _meta_message(code, subcode, exc.api_error_message(), status)
        kind: ErrorKind
        if code in META_AUTH_CODES or subcode in META_AUTH_SUBCODES:
            kind = "auth"
        elif code in META_THROTTLE_CODES:
            kind = "throttled"
        elif exc.api_transient_error() or code in META_TRANSIENT_CODES or int(status or 0) >= 500:
            kind = "transient"
        elif status == 401 or status == 403:
            kind = "auth"
        elif status == 429:
            kind = "throttled"
        elif code in META_INVALID_CODES:
            kind = "invalid"
        else:
            kind = "fatal"
        retry_after = meta_usage_wait(exc.http_headers()) if kind == "throttled" else None
        err = ConnectorError(redact(message), kind=kind, retry_after=retry_after)
        err.__cause__ = exc
        return err
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        http_kind: ErrorKind = (
            "throttled" if status == 429 else "transient" if status >= 500 else "fatal")
        return _wrap(exc, http_kind, f"Meta API: {exc}")
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return _wrap(exc, "transient", f"Meta API unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, requests.RequestException):
        return _wrap(exc, "transient", f"Meta API request failed: {exc}")
    if isinstance(exc, FacebookError):
        return _wrap(exc, "fatal", f"Meta SDK error: {exc}")
    return _wrap(exc, "fatal", f"{type(exc).__name__}: {exc}")


def _wrap(
    exc: BaseException, kind: ErrorKind, message: str, retry_after: float | None = None
) -> ConnectorError:
    # SDK texts quote the request: the Graph URL with its token, gRPC metadata, OAuth forms.
    err = ConnectorError(redact(message), kind=kind, retry_after=retry_after)
    err.__cause__ = exc
    return err


# Google Ads: the ErrorCode oneof field set on each GoogleAdsError decides the kind.
GOOGLE_AUTH_ERRORS = frozenset({"authentication_error", "authorization_error"})
GOOGLE_THROTTLE_ERRORS = frozenset({"quota_error"})
GOOGLE_TRANSIENT_ERRORS = frozenset({"internal_error"})
# CONCURRENT_MODIFICATION and friends: the same request succeeds when sent again.
GOOGLE_RETRY_ERRORS = frozenset({"database_error"})
GOOGLE_AUTH_MARKERS = ("invalid_grant", "unauthorized_client", "invalid_client")


def google_failure_kinds(failure: Any) -> list[tuple[str, str, float | None]]:
    """(error code field, its enum name, retry delay) for each error of a GoogleAdsFailure."""
    out: list[tuple[str, str, float | None]] = []
    pb = getattr(failure, "_pb", failure)
    for error in pb.errors:
        field = error.error_code.WhichOneof("error_code") or ""
        value = getattr(error.error_code, field, 0) if field else 0
        name = str(value)
        try:
            enum = error.error_code.DESCRIPTOR.fields_by_name[field].enum_type
            name = enum.values_by_number[value].name
        except (KeyError, AttributeError):
            pass
        delay: float | None = None
        if error.details.HasField("quota_error_details"):
            rd = error.details.quota_error_details.retry_delay
            delay = rd.seconds + rd.nanos / 1e9
        out.append((field, name, delay))
    return out


def google_error_kind(field: str, name: str) -> ErrorKind:
    """The kind of one GoogleAdsError, from its error code field and enum name."""
    if field in GOOGLE_AUTH_ERRORS or (field, name) == ("quota_error", "ACCESS_PROHIBITED"):
        return "auth"
    if field in GOOGLE_THROTTLE_ERRORS:
        return "throttled"
    if field in GOOGLE_TRANSIENT_ERRORS or field in GOOGLE_RETRY_ERRORS:
        return "transient"
    return "invalid"


def _google_kind_from_failure(failure: Any) -> tuple[ErrorKind, float | None, str]:
    kinds = google_failure_kinds(failure)
    found = {google_error_kind(f, n) for f, n, _ in kinds}
    delays = [d for _, _, d in kinds if d]
    names = ", ".join(f"{f}.{n}" for f, n, _ in kinds) or "unknown"
    # The most final verdict wins: one auth error in a failure makes the whole call auth.
    verdicts: tuple[ErrorKind, ...] = ("auth", "invalid", "throttled", "transient")
    for kind in verdicts:
        if kind in found:
            return kind, (max(delays) if delays and kind == "throttled" else None), names
    return "fatal", None, names


def _failure_from_metadata(metadata: Any) -> Any | None:
    from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

    for key, value in metadata or ():
        if key == "google.ads.googleads.v26.errors.googleadsfailure-bin":
            return GoogleAdsFailure.deserialize(value)
    return None


def _trailing(exc: BaseException) -> Any:
    call: Any = getattr(exc, "response", None) or exc  # duck-typed: any grpc.Call will do
    try:
        return call.trailing_metadata()
    except Exception:  # not a grpc.Call: nothing to read
        return None


def _retry_info_delay(exc: BaseException) -> float | None:
    for detail in getattr(exc, "details", None) or []:
        delay = getattr(detail, "retry_delay", None)
        if delay is not None and hasattr(delay, "seconds"):
            return delay.seconds + delay.nanos / 1e9
    return None


def classify_google(exc: BaseException) -> ConnectorError:
    """Map a google-ads / api_core / grpc / google-auth exception onto a :class:`ConnectorError`."""
    import grpc
    from google.ads.googleads.errors import GoogleAdsException
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth_exc

    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, GoogleAdsException):
        kind, delay, names = _google_kind_from_failure(exc.failure)
        first = exc.failure.errors[0].message if exc.failure.errors else ""
        return _wrap(
            exc, kind, f"Google Ads error {names} (request {exc.request_id}): {first}", delay
        )
    if isinstance(exc, auth_exc.RefreshError):
        if getattr(exc, "retryable", False):
            return _wrap(exc, "transient", f"Google OAuth token refresh failed: {exc}")
        return _wrap(exc, "auth", f"Google OAuth token refresh refused: {exc}")
    if isinstance(exc, auth_exc.TransportError):
        return _wrap(exc, "transient", f"Google OAuth endpoint unreachable: {exc}")
    if isinstance(exc, core.GoogleAPICallError):
        return _classify_api_call(exc)
    text = str(exc)
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if hasattr(exc, "code") else None
        mapped = core.from_grpc_status(code, exc.details() if hasattr(exc, "details") else text)
        mapped.response = exc
        return classify_google(mapped)
    return _wrap(exc, "fatal", f"{type(exc).__name__}: {exc}")


def _classify_api_call(exc: GoogleAPICallError) -> ConnectorError:
    """An api_core call error: quota, credentials, transient, or what its failure says."""
    from google.api_core import exceptions as core

    text = str(exc)
    failure = _failure_from_metadata(_trailing(exc))
    if isinstance(exc, core.ResourceExhausted):
        delay = _retry_info_delay(exc)
        if failure is not None:
            _, fdelay, _ = _google_kind_from_failure(failure)
            delay = fdelay or delay
        return _wrap(exc, "throttled", f"Google Ads quota exhausted: {exc.message}", delay)
    # A refused refresh token reaches us as UNAVAILABLE from the channel's auth plugin.
    if any(marker in text for marker in GOOGLE_AUTH_MARKERS):
        return _wrap(exc, "auth", f"Google OAuth refused the credentials: {exc.message}")
    if isinstance(exc, core.Unauthenticated | core.PermissionDenied):
        return _wrap(exc, "auth", f"Google Ads refused the credentials: {exc.message}")
    if isinstance(
        exc,
        core.ServiceUnavailable
        | core.InternalServerError
        | core.DeadlineExceeded
        | core.Aborted
        | core.Unknown
        | core.GatewayTimeout,
    ):
        return _wrap(exc, "transient", f"Google Ads transient error: {exc.message}")
    if failure is not None:
        kind, delay, names = _google_kind_from_failure(failure)
        return _wrap(exc, kind, f"Google Ads error {names}: {exc.message}", delay)
    if isinstance(exc, core.InvalidArgument | core.NotFound | core.FailedPrecondition):
        return _wrap(exc, "invalid", f"Google Ads rejected the request: {exc.message}")
    return _wrap(exc, "fatal", f"Google Ads error: {exc.message}")


class PartialAccountList(ConnectorError):
    """Listing reached some accounts and not others (a token revoked on one account, a
    cancelled customer): the reachable ones still sync, and each failure is reported by name.
    """

    def __init__(self, accounts: list[Any], failures: dict[str, ConnectorError]) -> None:
        named = "; ".join(f"{ext}: [{err.kind}] {err}" for ext, err in failures.items())
        first = next(iter(failures.values()))
        super().__init__(f"{len(failures)} account(s) could not be read: {named}", kind=first.kind)
        self.accounts = accounts  # AccountRecords of the accounts that answered
        self.failures = failures  # external id -> why it could not be read
