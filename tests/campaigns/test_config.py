"""The shipped configs load, and the production template keeps its secrets out of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.config import load_settings, secret, settings_from_dict
from campaigns.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_demo_config_is_the_embedded_default() -> None:
    s = load_settings(CONFIGS / "demo.toml")
    assert s.database_url.startswith("sqlite:///")
    assert [x.kind for x in s.sources] == ["sandbox"]


def test_production_template_validates_and_names_env_vars_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    s = load_settings(CONFIGS / "production.example.toml")
    assert s.database_url.startswith("postgresql://")
    assert {x.kind for x in s.sources} == {"meta", "google_ads", "csv"}
    text = (CONFIGS / "production.example.toml").read_text()
    assert "token = \"" not in text.replace("_env = \"", "")
    meta = s.source("meta")
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="META_ACCESS_TOKEN is not set"):
        secret(meta.options.access_token_env, "Meta access token")
    monkeypatch.setenv("META_ACCESS_TOKEN", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        secret(meta.options.access_token_env, "Meta access token")


def test_database_url_from_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGETPILOT_DATABASE_URL", "sqlite:///elsewhere.db")
    assert load_settings(CONFIGS / "demo.toml").database_url == "sqlite:///elsewhere.db"


def test_production_template_builds_both_connectors_and_the_service_sections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from campaigns.policy import service_config
    from connectors.registry import build_connector

    s = load_settings(CONFIGS / "production.example.toml")
    assert service_config(s).scheduler.enabled
    for var in ("META_ACCESS_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_REFRESH_TOKEN",
                "GOOGLE_ADS_CLIENT_ID", "GOOGLE_ADS_CLIENT_SECRET"):
        monkeypatch.setenv(var, f"test-{var.lower()}")
    names = {type(build_connector(src, s)).__name__ for src in s.sources if src.kind != "csv"}
    assert names == {"MetaConnector", "GoogleAdsConnector"}


def test_optimizer_settings_are_typed_with_the_documented_defaults() -> None:
    from typing import get_args

    from campaigns.config import ExplorationMethod, OptimizerSettings
    from optimizer.exploration import Method

    o = settings_from_dict({}).optimizer
    assert (o.objective, o.max_change, o.min_change, o.lag_days, o.nowcast) == (
        "conversions", 0.2, 0.01, 0, True)
    assert (o.half_life_days, o.target_cpa, o.min_roas, o.exploration, o.seed) == (
        None, None, None, "ucb", 0)
    assert set(get_args(ExplorationMethod)) == set(get_args(Method))
    given = settings_from_dict({"optimizer": {"lag_days": "3", "half_life_days": 21}}).optimizer
    assert (given.lag_days, given.half_life_days) == (3, 21.0)
    assert OptimizerSettings.model_config["extra"] == "forbid"


@pytest.mark.parametrize(("raw", "named"), [
    ({"optimizer": {"max_chnage": 0.2}}, "optimizer.max_chnage: unknown key"),
    ({"optimizer": {"lag_days": "seven"}}, "optimizer.lag_days: Input should be a valid integer"),
    ({"optimizer": {"exploration": "greedy"}}, "optimizer.exploration"),
    ({"service": {"prot": 1}}, "service.prot: unknown key"),
    ({"pacing": {"run_rate": 7}}, "pacing.run_rate: unknown key"),
    ({"alerts": {"webhooks": [{"name": "s", "url": "x"}]}}, "alerts.webhooks.0.url"),
    ({"scheduler": {"enable": True}}, "scheduler.enable: unknown key"),
    ({"automation": {"dryrun": True}}, "automation.dryrun: unknown key"),
    ({"sources": [{"name": "sb", "kind": "sandbox", "sed": 3}]}, "sources.sb.sed: unknown key"),
    ({"sources": [{"name": "m", "kind": "meta", "page_size": "big"}]}, "sources.m.page_size"),
    ({"sources": [{"name": "g", "kind": "google_ads", "customer_id": "1"}]},
     "sources.g.customer_id: unknown key"),
    ({"sources": [{"name": "c", "kind": "csv", "timezone": "Mars/Base"}]}, "sources.c.timezone"),
    ({"sources": [{"name": "x", "kind": "tiktok"}]}, "sources.x.kind: Value error, unknown kind"),
])
def test_a_typo_anywhere_is_refused_at_load_naming_the_key(
    raw: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    assert named in info.value.message


def test_each_source_gets_its_kinds_options_model() -> None:
    from connectors.csv_options import CsvOptions
    from connectors.google_ads_options import GoogleAdsOptions
    from connectors.meta_options import MetaOptions

    s = load_settings(CONFIGS / "production.example.toml")
    kinds = {src.kind: type(src.options) for src in s.sources}
    assert kinds == {"meta": MetaOptions, "google_ads": GoogleAdsOptions, "csv": CsvOptions}
    meta = s.source("meta").options
    assert isinstance(meta, MetaOptions)
    assert (meta.page_size, meta.retry_policy().max_attempts, meta.retry_policy().timeout) == (
        500, 8, 60)


def test_a_connectors_settings_error_is_a_config_error_where_the_service_builds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from campaigns.ingest.connectors import connector_for
    from connectors.registry import build_connector
    from connectors.settings import SettingsError

    s = load_settings(CONFIGS / "production.example.toml")
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="META_ACCESS_TOKEN is not set"):
        build_connector(s.source("meta"))
    with pytest.raises(ConfigError, match="META_ACCESS_TOKEN is not set"):
        connector_for(s.source("meta"), s)
    with pytest.raises(ConfigError, match="imported with `budgetpilot import-csv`"):
        connector_for(s.source("csv"), s)
