"""Meta's usage headers, as its rate-limiting page documents them, become pauses on the
right scope (the app, or the ad account named), so every worker sharing the limits waits."""

from __future__ import annotations

import json

import requests

from connectors.meta_limits import ACCOUNT, APP, MetaLimitsAdapter
from connectors.rate_limits import PlatformLimits
from connectors.retry import RetryPolicy

NOW = 1_000_000.0


def _adapter() -> tuple[MetaLimitsAdapter, PlatformLimits]:
    limits = PlatformLimits(clock=lambda: NOW)  # memory storage, a fixed clock
    adapter = MetaLimitsAdapter(limits, "app1", rules={}, policy=RetryPolicy(),
                                threshold=90.0)
    return adapter, limits


def _response(status: int = 200, body: dict | None = None, **headers: object) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body or {}).encode()
    for name, value in headers.items():
        r.headers[name.replace("_", "-")] = json.dumps(value)
    return r


def test_account_usage_pauses_that_account_for_its_reset_time_only() -> None:
    adapter, limits = _adapter()
    scopes = adapter._scopes("https://graph.facebook.com/v26.0/act_42/insights")
    assert scopes == [(APP, "app1"), (ACCOUNT, "act_42")]
    adapter.observe(_response(x_ad_account_usage={"acc_id_util_pct": 95,
                                                  "reset_time_duration": 120}), scopes)
    assert limits.paused_for((ACCOUNT, "act_42")) == 120.0
    assert limits.paused_for((APP, "app1")) == 0.0
    assert limits.paused_for((ACCOUNT, "act_43")) == 0.0


def test_usage_under_the_threshold_pauses_nothing() -> None:
    adapter, limits = _adapter()
    scopes = adapter._scopes("https://graph.facebook.com/v26.0/act_42/campaigns")
    adapter.observe(_response(x_app_usage={"call_count": 40, "total_cputime": 10,
                                           "total_time": 12},
                              x_ad_account_usage={"acc_id_util_pct": 50,
                                                  "reset_time_duration": 300}), scopes)
    assert limits.paused_for((APP, "app1")) == 0.0
    assert limits.paused_for((ACCOUNT, "act_42")) == 0.0


def test_app_usage_over_the_threshold_pauses_the_app() -> None:
    adapter, limits = _adapter()
    scopes = adapter._scopes("https://graph.facebook.com/v26.0/123456/")
    adapter.observe(_response(x_app_usage={"call_count": 96, "total_cputime": 20,
                                           "total_time": 30}), scopes)
    assert limits.paused_for((APP, "app1")) > 0


def test_business_use_case_usage_pauses_each_named_account_for_its_minutes() -> None:
    adapter, limits = _adapter()
    scopes = adapter._scopes("https://graph.facebook.com/v26.0/act_1/insights")
    adapter.observe(_response(x_business_use_case_usage={
        "1": [{"type": "ads_insights", "call_count": 100, "total_cputime": 30,
               "total_time": 40, "estimated_time_to_regain_access": 5}],
        "2": [{"type": "ads_management", "call_count": 10, "total_cputime": 1,
               "total_time": 1, "estimated_time_to_regain_access": 0}],
    }), scopes)
    assert limits.paused_for((ACCOUNT, "act_1")) == 300.0
    assert limits.paused_for((ACCOUNT, "act_2")) == 0.0
