"""The service's settings sections (``[service]``, ``[pacing]``, ``[alerts]``, ``[scheduler]``),
validated at start-up so that a typo fails before the first request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from campaigns.config import Settings
from campaigns.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShiftPolicy(_Strict):
    auto_approve_max_change: float = Field(
        0.1, ge=0, le=10,
        description="a shift moving at most this fraction of the portfolio's budget "
        "(sum |new-old| / sum old) may be approved by its proposer or the nightly job",
    )
    shift_ttl_hours: float = Field(24, gt=0, le=24 * 30)


class ServicePolicy(ShiftPolicy):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    cache_seconds: float = Field(300, ge=0, le=86400, description="pacing/finance cache")
    freshness_seconds: float = Field(
        1, ge=0, le=60,
        description="a worker re-reads the data version of cached responses (pacing, finance, "
        "shift lists) at most this often; its own writes invalidate at once",
    )
    auth_cache_seconds: float = Field(
        2, ge=0, le=300,
        description="a worker remembers a checked token this long: a token revoked from "
        "another process stops working within this time",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=1024**3,
        description="a request body above this many bytes is refused with 413 before it is "
        "read (declared by Content-Length or counted while it streams in)",
    )


class PacingSettings(_Strict):
    over_threshold: float = Field(0.05, ge=0, le=10, description="forecast above plan by this")
    under_threshold: float = Field(0.05, ge=0, le=1, description="forecast below plan by this")
    run_rate_days: int = Field(14, ge=1, le=90)
    weekday_weeks: int = Field(8, ge=1, le=52)
    spike_cap: float = Field(
        2.0, ge=1, le=10,
        description="a day above this multiple of the median day counts as this multiple "
        "(Google may spend 2x a daily budget on one day, Meta +75%)",
    )
    ratio_days: int = Field(14, ge=1, le=90, description="days the delivery ratio is read from")
    ratio_cap: float = Field(
        1.25, ge=1, le=10,
        description="a day's spend/budget above this multiple of the median day's counts as "
        "this multiple",
    )
    prior_days: float = Field(
        3.0, ge=0, le=90,
        description="an account's or campaign's delivery ratio leans on its network's with "
        "the weight of this many days",
    )


class WebhookSettings(_Strict):
    name: str
    url_env: str = Field(description="environment variable holding the webhook URL")
    kinds: list[str] = Field(default_factory=list, description="empty: every kind")


class AlertSettings(_Strict):
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    stale_sync_hours: float = Field(36, gt=0)
    approval_wait_hours: float = Field(12, gt=0)
    cap_tolerance: float = Field(0.0, ge=0, le=10)
    max_delivery_attempts: int = Field(5, ge=1, le=100)
    retries_per_run: int = Field(3, ge=1, le=10)
    timeout_seconds: float = Field(10, gt=0, le=120)


class SchedulerSettings(_Strict):
    enabled: bool = False
    timezone: str = "UTC"
    auto_approve: bool = True
    apply: bool = True
    sync: bool = True
    alert_minutes: int = Field(
        60, ge=0, le=1440,
        description="evaluate and deliver alerts this often between nightly runs (0: never)",
    )


@dataclass(frozen=True)
class ServiceConfig:
    service: ServicePolicy
    pacing: PacingSettings
    alerts: AlertSettings
    scheduler: SchedulerSettings


def _section(model: type[_Strict], raw: dict[str, Any], name: str) -> Any:
    try:
        return model.model_validate(raw)
    except PydanticValidationError as e:
        problems = "; ".join(
            f"{name}.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"config: {problems}") from e


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        service=_section(ServicePolicy, settings.service.model_dump(), "service"),
        pacing=_section(PacingSettings, settings.pacing, "pacing"),
        alerts=_section(AlertSettings, settings.alerts, "alerts"),
        scheduler=_section(SchedulerSettings, settings.scheduler, "scheduler"),
    )
