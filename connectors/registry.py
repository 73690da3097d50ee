"""The connector kinds: each maps to its options model and a factory. SDK clients are made in
the factories, never as globals, and an SDK is imported only when its kind is built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.base import Connector
from connectors.google_ads_options import GoogleAdsOptions
from connectors.meta_options import MetaOptions
from connectors.rate_limits import PlatformLimits
from connectors.sandbox_options import SandboxOptions
from connectors.settings import ConnectorOptions, SettingsError


@dataclass(frozen=True)
class ConnectorKind:
    options: type[ConnectorOptions]
    # (source name, its options, the shared rate limits) -> the connector
    factory: Callable[[str, Any, PlatformLimits | None], Connector]


def _sandbox(name: str, options: SandboxOptions, limits: PlatformLimits | None) -> Connector:
    from connectors.sandbox import SandboxConnector

    return SandboxConnector.from_options(name, options, limits)


def _meta(name: str, options: MetaOptions, limits: PlatformLimits | None) -> Connector:
    from connectors.meta import MetaConnector

    return MetaConnector.from_options(name, options, limits)


def _google_ads(name: str, options: GoogleAdsOptions, limits: PlatformLimits | None
                ) -> Connector:
    from connectors.google_ads import GoogleAdsConnector

    return GoogleAdsConnector.from_options(name, options, limits)


CONNECTORS: Mapping[str, ConnectorKind] = {
    "sandbox": ConnectorKind(SandboxOptions, _sandbox),
    "meta": ConnectorKind(MetaOptions, _meta),
    "google_ads": ConnectorKind(GoogleAdsOptions, _google_ads),
}
SOURCE_KEYS = ("name", "kind", "portfolio")


class SourceSettings(BaseModel):
    """One ``[[sources]]`` entry: its name, kind and portfolio, and the kind's options.

    In the file a source's options sit beside ``name`` and ``kind``; they are gathered into
    ``options`` and validated with the kind's model, so a mistyped key names itself at load.
    ``kinds`` lists the accepted kinds; the service adds the ones it serves itself (``csv``).
    """

    model_config = ConfigDict(extra="forbid")
    kinds: ClassVar[Mapping[str, type[ConnectorOptions]]] = {
        kind: entry.options for kind, entry in CONNECTORS.items()
    }

    name: str
    kind: str
    portfolio: str = "default"
    # Dumped as the kind's model, so every ``*_env`` key is seen by the log redaction.
    options: SerializeAsAny[ConnectorOptions]

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = {k: v for k, v in data.items() if k in SOURCE_KEYS}
        rest = {k: v for k, v in data.items() if k not in SOURCE_KEYS}
        if set(rest) == {"options"}:  # already gathered (a dump of a source, say)
            return data
        return {**given, "options": rest}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in cls.kinds:
            raise ValueError(f"unknown kind {kind!r}: one of {', '.join(sorted(cls.kinds))}")
        return kind

    @field_validator("options", mode="before")
    @classmethod
    def _of_kind(cls, options: Any, info: ValidationInfo) -> Any:
        model = cls.kinds.get(info.data.get("kind", ""))
        if model is None:  # the kind itself was refused: that is the error to read
            return ConnectorOptions()
        return model.model_validate(options)


class HasSources(Protocol):
    @property
    def sources(self) -> list[Any]: ...


def build_connector(
    source: SourceSettings, settings: object = None, limits: PlatformLimits | None = None
) -> Connector:
    """The connector for one ``[[sources]]`` entry of the config.

    ``settings`` is accepted so that a caller's connector factory can take the whole config;
    ``limits`` holds the platforms' rate limits (this process's memory when ``None``).
    """
    entry = CONNECTORS.get(source.kind)
    if entry is None:
        raise SettingsError(
            f"source {source.name!r} is of kind {source.kind!r}, which is imported with "
            "`budgetpilot import-csv`, not synced"
        )
    return entry.factory(source.name, source.options, limits)


def syncable_sources(settings: HasSources) -> list[Any]:
    return [s for s in settings.sources if s.kind in CONNECTORS]
