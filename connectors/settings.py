"""What every connector's settings share: the options base, the retry keys and secrets.

A connector kind declares its own options model (``MetaOptions``, ``GoogleAdsOptions``,
``SandboxOptions``) on :class:`ConnectorOptions`, so an unknown or mistyped key is refused when
the config loads, not ignored when the first sync runs. Secrets never live in a config: an
option names the environment variable that holds each one and :func:`secret` reads it.

Nothing here imports ``campaigns``: the service maps :class:`SettingsError` to its own
configuration error where it builds connectors.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from connectors.redact import remember_secret
from connectors.retry import RetryPolicy

PLACEHOLDERS = frozenset({"changeme", "change-me", "xxx", "todo", "secret", "<token>"})


def _as_text(value: object) -> object:
    # TOML gives an unquoted account id as an integer; it names the same account.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# An account or customer id: text, also when the config wrote it as a number.
Identifier = Annotated[str, BeforeValidator(_as_text)]


def _rate(value: str) -> str:
    from limits import parse

    try:
        parse(value)
    except ValueError:
        raise ValueError(
            f'{value!r} is not a rate: write it as "200/minute", "10/second"') from None
    return value


# A budget of calls per window in the ``limits`` notation ("200/minute", "5 per second").
Rate = Annotated[str, AfterValidator(_rate)]


class SettingsError(ValueError):
    """A connector's options or secrets are wrong: the config or the environment must change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectorOptions(BaseModel):
    """Base of each kind's options: unknown keys are refused, values are never changed later."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryOptions(ConnectorOptions):
    """The retry keys every platform connector accepts (see :class:`RetryPolicy`)."""

    retry_max_attempts: int | None = Field(None, ge=1, le=100)
    retry_base_delay: float | None = Field(None, ge=0)
    retry_max_delay: float | None = Field(None, ge=0)
    retry_max_wait: float | None = Field(
        None, ge=0, description="a longer pause asked by the platform fails the call instead"
    )
    retry_jitter: float | None = Field(None, ge=0, le=1)
    timeout_seconds: float | None = Field(None, gt=0, description="per request")

    def retry_policy(self) -> RetryPolicy:
        """The policy these options give; an unset key keeps :class:`RetryPolicy`'s default."""
        given: dict[str, Any] = {
            "max_attempts": self.retry_max_attempts,
            "base_delay": self.retry_base_delay,
            "max_delay": self.retry_max_delay,
            "max_retry_after": self.retry_max_wait,
            "jitter": self.retry_jitter,
            "timeout": self.timeout_seconds,
        }
        return RetryPolicy(**{k: v for k, v in given.items() if v is not None})


def secret(env_name: str | None, what: str) -> str:
    """The value of a secret's environment variable; refuses a missing or placeholder one."""
    if not env_name:
        raise SettingsError(f"{what}: the config must name the environment variable that holds it")
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise SettingsError(f"{what}: environment variable {env_name} is not set")
    if value.lower() in PLACEHOLDERS:
        raise SettingsError(f"{what}: environment variable {env_name} holds a placeholder value")
    remember_secret(value)  # from now on no log line, stored error or response can show it
    return value
