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
    from connectors.rate_limits import limits_for

    # With workers the platforms' limits live in Redis, shared by every process that calls
    # them; in-process they are kept in this process's memory.
    url = settings.queue.rate_limits_url if settings is not None else None
    try:
        return build_connector(source, settings, limits_for(url))
    except SettingsError as e:
        raise ConfigError(e.message) from e
