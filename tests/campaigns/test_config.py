"""The shipped configs load, and the production template keeps its secrets out of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.config import load_settings, secret
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
