"""The connector of a configured source, built where the service meets :mod:`connectors`.

Connectors know nothing of the service's errors: a wrong option or a missing secret is their
:class:`~connectors.settings.SettingsError`, which becomes a :class:`ConfigError` (exit 2,
a 400 problem) here, the one place the service builds connectors.
"""

from __future__ import annotations

from campaigns.config import Settings, SourceSettings
from campaigns.errors import ConfigError
from connectors.base import Connector
from connectors.registry import build_connector, syncable_sources
from connectors.settings import SettingsError

__all__ = ["connector_for", "syncable_sources"]


def connector_for(source: SourceSettings, settings: Settings | None = None) -> Connector:
    """The connector for one ``[[sources]]`` entry; its SDK is imported only now."""
    try:
        return build_connector(source, settings)
    except SettingsError as e:
        raise ConfigError(e.message) from e
