"""Each connector kind's options: a model of its own that refuses unknown keys, read into the
connector as typed values, and documented key by key in the README."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.google_ads_options import GoogleAdsOptions
from connectors.meta_options import MetaOptions
from connectors.registry import CONNECTORS, SourceSettings
from connectors.retry import RetryPolicy
from connectors.sandbox import SandboxConnector
from connectors.sandbox_options import SandboxOptions
from connectors.settings import SettingsError, secret

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_every_kind_refuses_an_unknown_key(kind: str) -> None:
    model = CONNECTORS[kind].options
    assert model.model_config["extra"] == "forbid"
    with pytest.raises(ValidationError, match="page_sise"):
        model.model_validate({"page_sise": 5})
    with pytest.raises(ValidationError, match=r"options\.retry_jiter"):
        SourceSettings.model_validate({"name": "s", "kind": kind, "retry_jiter": 0.1})


def test_the_source_gathers_flat_keys_into_its_kinds_model() -> None:
    source = SourceSettings(name="sb", kind="sandbox", seed=3, now="2026-06-01",
                            fail_accounts=[123])
    assert isinstance(source.options, SandboxOptions)
    assert source.options.now == dt.datetime(2026, 6, 1)
    assert source.options.fail_accounts == ["123"]  # an unquoted id is the same account
    again = SourceSettings.model_validate(source.model_dump())
    assert again == source
    with pytest.raises(ValidationError, match="unknown kind 'tiktok'"):
        SourceSettings(name="t", kind="tiktok")


def test_retry_keys_become_the_policy_and_unset_ones_keep_its_defaults() -> None:
    policy = MetaOptions(retry_max_attempts=3, timeout_seconds=5).retry_policy()
    assert (policy.max_attempts, policy.timeout) == (3, 5)
    assert policy.base_delay == RetryPolicy().base_delay
    assert GoogleAdsOptions().retry_policy() == RetryPolicy()


def test_the_sandbox_is_built_from_its_options() -> None:
    options = SandboxOptions(seed=11, accounts=2, campaigns_per_account=1,
                             now=dt.datetime(2026, 6, 1, 12))
    platform = SandboxConnector.from_options("sb", options)
    assert (platform.seed, len(platform.accounts), len(platform.campaigns)) == (11, 2, 2)
    assert platform.now == dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def test_a_missing_or_placeholder_secret_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("T_NOT_SET", raising=False)
    with pytest.raises(SettingsError, match="T_NOT_SET is not set"):
        secret("T_NOT_SET", "token")
    monkeypatch.setenv("T_NOT_SET", "changeme")
    with pytest.raises(SettingsError, match="placeholder"):
        secret("T_NOT_SET", "token")
    with pytest.raises(SettingsError, match="must name the environment variable"):
        secret(None, "token")


def test_the_readme_names_every_key_of_every_kind() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Source options"):text.index("### Service settings")]
    for kind, entry in CONNECTORS.items():
        missing = [k for k in entry.options.model_fields if f"`{k}`" not in section]
        assert not missing, f"{kind}: {missing} not in the README's Source options"


@pytest.mark.parametrize("model,key", [
    (MetaOptions, "rate_limit_app"), (MetaOptions, "rate_limit_account"),
    (GoogleAdsOptions, "rate_limit_developer_token"), (GoogleAdsOptions, "rate_limit_customer"),
    (SandboxOptions, "rate_limit_account"),
])
def test_a_rate_that_is_not_a_rate_is_refused_naming_the_key(model: type, key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        model.model_validate({key: "200 per fortnight"})
    assert getattr(model.model_validate({key: "200/minute"}), key) == "200/minute"


def test_a_platform_pause_is_waited_out_before_the_next_call_in_that_scope_only() -> None:
    from connectors.rate_limits import PlatformLimits

    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limits = PlatformLimits(clock=lambda: now[0])  # in memory: the in-process sync's limiter
    limits.pause(("sandbox_account", "a1"), 4.0, "usage over the threshold")
    assert limits.wait_turn([("sandbox_account", "a2")], "call", sleep=sleep) == 0.0
    assert limits.wait_turn([("sandbox_account", "a1")], "call", sleep=sleep) == pytest.approx(4.0)
    assert slept == [pytest.approx(4.0)]
    assert limits.wait_turn([("sandbox_account", "a1")], "call", sleep=sleep) == 0.0


def test_sandbox_report_seconds_is_a_range_of_seconds() -> None:
    from connectors.sandbox_options import SandboxOptions

    assert SandboxOptions.model_validate({"report_seconds": [3, 20]}).report_seconds == (3, 20)
    for bad in ([20, 3], [-1, 2]):
        with pytest.raises(ValidationError, match="report_seconds"):
            SandboxOptions.model_validate({"report_seconds": bad})
