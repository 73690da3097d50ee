"""The error classification, pinned by real error payloads of both platforms."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from facebook_business.exceptions import FacebookRequestError
from google.ads.googleads.errors import GoogleAdsException
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.api_core import exceptions as core
from google.auth import exceptions as auth_exc

from connectors.base import ConnectorError
from connectors.errors import classify_google, classify_meta
from connectors.retry import RetryPolicy, call_with_retry
from tests.connectors.fake_gads_state import failure

# (HTTP status, body as Graph sends it, headers) -> kind; bodies as seen from the Graph API.
# fmt: off
META_CASES: list[tuple[str, int, dict[str, Any], dict[str, str], str]] = [
    ("user request limit", 400, {"message": "(#17) User request limit reached",
     "type": "OAuthException", "is_transient": True, "code": 17, "error_subcode": 2446079},
     {}, "throttled"),
    ("ad account BUC limit", 400, {"message": "(#80000) There have been too many calls from "
     "this ad-account. Wait a bit and try again.", "type": "OAuthException",
     "is_transient": True, "code": 80000, "error_subcode": 2446079}, {}, "throttled"),
    ("app limit", 403, {"message": "(#4) Application request limit reached",
     "type": "OAuthException", "is_transient": True, "code": 4}, {}, "throttled"),
    ("custom rate limit", 400, {"message": "(#613) Calls to this api have exceeded the rate "
     "limit.", "type": "OAuthException", "code": 613}, {}, "throttled"),
    ("insights BUC limit", 400, {"message": "(#80004) There have been too many calls to this "
     "ad-account.", "type": "OAuthException", "code": 80004, "error_subcode": 2446079},
     {}, "throttled"),
    ("expired session", 400, {"message": "Error validating access token: Session has expired "
     "on Friday, 01-Mar-24 08:00:00 PST.", "type": "OAuthException", "code": 190,
     "error_subcode": 463}, {}, "auth"),
    ("unparsable token", 400, {"message": "Invalid OAuth access token - Cannot parse access "
     "token", "type": "OAuthException", "code": 190}, {}, "auth"),
    ("missing permission", 403, {"message": "(#200) Ad account owner has NOT grant "
     "ads_management or ads_read permission", "type": "OAuthException", "code": 200},
     {}, "auth"),
    ("password changed", 400, {"message": "Error validating access token: The session has "
     "been invalidated because the user changed their password", "type": "OAuthException",
     "code": 190, "error_subcode": 460}, {}, "auth"),
    ("unknown error", 500, {"message": "An unknown error occurred", "type": "OAuthException",
     "is_transient": True, "code": 1, "error_subcode": 99}, {}, "transient"),
    ("reduce data", 500, {"message": "Please reduce the amount of data you're asking for, then "
     "retry your request", "type": "OAuthException", "code": 1}, {}, "transient"),
    ("service unavailable", 503, {"message": "Service temporarily unavailable",
     "type": "OAuthException", "is_transient": True, "code": 2}, {}, "transient"),
    ("unexpected 500", 500, {"message": "An unexpected error has occurred. Please retry your "
     "request later.", "type": "OAuthException", "is_transient": True, "code": 2}, {},
     "transient"),
    ("budget too low", 400, {"message": "Invalid parameter", "type": "OAuthException",
     "code": 100, "error_subcode": 1885272, "error_user_title": "Budget Too Low"}, {},
     "invalid"),
    ("no such object", 400, {"message": "Unsupported get request. Object with ID '1' does not "
     "exist", "type": "GraphMethodException", "code": 100, "error_subcode": 33}, {}, "invalid"),
]
# fmt: on


def _fb_error(status: int, error: dict[str, Any], headers: dict[str, str]) -> FacebookRequestError:
    return FacebookRequestError(
        "Call was not successful",
        {"method": "GET", "path": "/v26.0/act_1/insights"},
        status,
        headers,
        json.dumps({"error": {**error, "fbtrace_id": "AbCdEfGh"}}),
    )


@pytest.mark.parametrize(
    ("name", "status", "error", "headers", "kind"), META_CASES, ids=[c[0] for c in META_CASES]
)
def test_meta_payloads(name: str, status: int, error: dict, headers: dict, kind: str) -> None:
    err = classify_meta(_fb_error(status, error, headers))
    assert err.kind == kind, err
    assert str(error["code"]) in str(err)


def test_meta_throttle_reads_the_wait_from_usage_headers() -> None:
    usage = {
        "1234": [
            {
                "type": "ads_management",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 5,
            }
        ]
    }
    err = classify_meta(
        _fb_error(400, META_CASES[0][2], {"x-business-use-case-usage": json.dumps(usage)})
    )
    assert err.kind == "throttled" and err.retry_after == 300


def test_meta_transport_failures() -> None:
    response = requests.Response()
    response.status_code = 502
    assert classify_meta(requests.HTTPError("bad gateway", response=response)).kind == "transient"
    response.status_code = 429
    assert classify_meta(requests.HTTPError("slow down", response=response)).kind == "throttled"
    assert classify_meta(requests.ConnectTimeout("timed out")).kind == "transient"
    assert classify_meta(requests.ConnectionError("reset")).kind == "transient"
    assert classify_meta(ValueError("bug")).kind == "fatal"


def _gads_exception(field: str, enum: str, message: str, delay: float | None = None):
    pb = failure(field, enum, message, retry_delay=delay)
    return GoogleAdsException(None, None, GoogleAdsFailure.wrap(pb), "req-42")  # type: ignore[arg-type]


# fmt: off
GOOGLE_CASES = [
    ("token expired", _gads_exception("authentication_error", "OAUTH_TOKEN_EXPIRED",
     "Authentication of the request failed."), "auth", None),
    ("no access to customer", _gads_exception("authorization_error", "USER_PERMISSION_DENIED",
     "User doesn't have permission to access customer."), "auth", None),
    ("developer token not approved", _gads_exception("authorization_error",
     "DEVELOPER_TOKEN_NOT_APPROVED", "The developer token is only approved for test "
     "accounts."), "auth", None),
    ("basic access prohibited", _gads_exception("quota_error", "ACCESS_PROHIBITED",
     "Access is prohibited."), "auth", None),
    ("short-term quota", _gads_exception("quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED",
     "Too many requests. Retry in 30 seconds.", delay=30), "throttled", 30.0),
    ("daily quota", _gads_exception("quota_error", "RESOURCE_EXHAUSTED",
     "Too many requests. Retry in 10800 seconds.", delay=10800), "throttled", 10800.0),
    ("transient internal", _gads_exception("internal_error", "TRANSIENT_ERROR",
     "The request failed due to a transient error."), "transient", None),
    ("concurrent modification", _gads_exception("database_error", "CONCURRENT_MODIFICATION",
     "Multiple requests were attempting to modify the same resource at once."),
     "transient", None),
    ("budget not a multiple", _gads_exception("campaign_budget_error",
     "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT", "Amount is not a multiple of the minimum "
     "currency unit."), "invalid", None),
    ("bad customer id", _gads_exception("request_error", "INVALID_CUSTOMER_ID",
     "Customer id is invalid."), "invalid", None),
    ("quota, not wrapped", core.ResourceExhausted("Resource has been exhausted"), "throttled",
     None),
    ("revoked refresh token", core.ServiceUnavailable("Getting metadata from plugin failed "
     "with error: ('invalid_grant: Token has been expired or revoked.', {'error': "
     "'invalid_grant'})"), "auth", None),
    ("dns failure", core.ServiceUnavailable("DNS resolution failed for googleads.googleapis.com"),
     "transient", None),
    ("internal mid-stream", core.InternalServerError("Internal error encountered."),
     "transient", None),
    ("deadline", core.DeadlineExceeded("Deadline Exceeded"), "transient", None),
    ("unauthenticated", core.Unauthenticated("Request had invalid authentication "
     "credentials."), "auth", None),
    ("refresh refused", auth_exc.RefreshError("invalid_grant: Bad Request"), "auth", None),
    ("bad request", core.InvalidArgument("Request contains an invalid argument."), "invalid",
     None),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "exc", "kind", "delay"), GOOGLE_CASES, ids=[c[0] for c in GOOGLE_CASES]
)
def test_google_payloads(name: str, exc: BaseException, kind: str, delay: float | None) -> None:
    err = classify_google(exc)
    assert err.kind == kind, err
    assert err.retry_after == delay


def test_retry_rule_follows_the_kind() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002, sleep=slept.append)
    calls = iter([core.ServiceUnavailable("x"), core.DeadlineExceeded("y"), "ok"])

    def flaky() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert call_with_retry(flaky, classify=classify_google, policy=policy, what="t") == "ok"
    assert len(slept) == 2

    def revoked() -> None:
        raise auth_exc.RefreshError("invalid_grant")

    with pytest.raises(ConnectorError) as info:
        call_with_retry(revoked, classify=classify_google, policy=policy, what="t")
    assert info.value.kind == "auth" and len(slept) == 2  # not retried

    def always_down() -> None:
        raise core.ServiceUnavailable("down")

    with pytest.raises(ConnectorError, match="after 4 attempts"):
        call_with_retry(always_down, classify=classify_google, policy=policy, what="t")


def test_a_requested_wait_is_honoured_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.001, max_delay=10, jitter=0.5)
    assert policy.delay(1, retry_after=3) == 3  # never shortened by jitter
    assert policy.delay(1, retry_after=3600) == 10
    assert 0.0005 <= policy.delay(1) <= 0.001
