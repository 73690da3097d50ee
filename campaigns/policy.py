"""The service's settings sections (``[service]``, ``[pacing]``, ``[alerts]``, ``[scheduler]``,
``[automation]``): fields of :class:`campaigns.config.Settings`, so a typo in any of them fails
when the config loads, before the first request or command."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from campaigns.config import Settings

DEFAULT_OVERDELIVERY = {"google": Decimal(2), "meta": Decimal("1.75")}


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
    trend_days: int = Field(
        0, ge=0, le=90,
        description="days of a scope's budgets the automation's way is read from (the line "
        "through their log); 0: the budgets left are today's and the approved ones",
    )
    trend_half_life: float = Field(
        14.0, ge=0, le=365,
        description="the trend's daily step halves every this many days (budgets near "
        "where the curves want them); 0: no trend",
    )
    revert_half_life: float = Field(
        3.0, ge=0, le=365,
        description="a budget off its scope's line comes back half the way in this many "
        "days; 0: it stays off",
    )
    stray_days: float = Field(
        7.0, ge=1, le=31, description="a budget strays from its line for runs of this many "
        "days: the range's width from the budgets' moves",
    )
    heading_weight: float = Field(
        0.5, ge=0, le=1,
        description="how much of the optimiser's planned path (its runs' targets within the "
        "max change) the days after the known budgets follow; 0: they hold the last known",
    )
    target_days: int = Field(
        8, ge=1, le=90,
        description="the runs' targets are averaged over the runs of this many days (at "
        "least the last run): each run refits the curves and its targets swing",
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


class AutomationSettings(_Strict):
    """``[automation]``: guardrails of the nightly job (see :mod:`campaigns.admin.automation`)."""

    dry_run: bool = Field(
        False, description="the nightly job computes and records everything as 'would apply' "
        "and writes nothing to the platforms",
    )
    hard_stop: Literal["lower", "pause"] = Field(
        "lower", description="when a hard plan would be passed: lower the budgets in its scope "
        "to land on it, or pause automation of its accounts and leave the decision to a person",
    )
    overdelivery: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_OVERDELIVERY),
        description="per network, the multiple of a daily budget a platform may spend on a day "
        "(Google Ads up to 2x, Meta up to 1.75x); a network not named counts 1",
    )

    @field_validator("overdelivery")
    @classmethod
    def _bounded(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for network, factor in v.items():
            if not 1 <= factor <= 10:
                raise ValueError(f"{network}: an overdelivery factor is between 1 and 10")
        return {**DEFAULT_OVERDELIVERY, **v}

    def factor(self, network: str) -> Decimal:
        return self.overdelivery.get(network, Decimal(1))


@dataclass(frozen=True)
class ServiceConfig:
    service: ServicePolicy
    pacing: PacingSettings
    alerts: AlertSettings
    scheduler: SchedulerSettings


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        service=settings.service,
        pacing=settings.pacing,
        alerts=settings.alerts,
        scheduler=settings.scheduler,
    )
