"""Build a connector from a config source. SDK clients are made here, never as globals."""

from __future__ import annotations

from campaigns.config import Settings, SourceSettings
from campaigns.errors import ConfigError
from connectors.base import Connector


def build_connector(source: SourceSettings, settings: Settings | None = None) -> Connector:
    """The connector for one ``[[sources]]`` entry of the config."""
    if source.kind == "sandbox":
        from connectors.sandbox import SandboxConnector

        return SandboxConnector.from_options(source.name, source.options)
    if source.kind == "meta":
        from connectors.meta import MetaConnector

        return MetaConnector.from_settings(source)
    if source.kind == "google_ads":
        from connectors.google_ads import GoogleAdsConnector

        return GoogleAdsConnector.from_settings(source)
    raise ConfigError(
        f"source {source.name!r} is of kind {source.kind!r}, which is imported with "
        "`budgetpilot import-csv`, not synced"
    )


def syncable_sources(settings: Settings) -> list[SourceSettings]:
    return [s for s in settings.sources if s.kind != "csv"]
