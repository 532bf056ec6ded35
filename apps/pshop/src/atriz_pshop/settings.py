"""PShop's settings: the kit's `AppSettings` and what the shop adds (its business day's zone,
how long idempotency keys are kept)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from atriz_core.kit.settings import AppSettings, Env, app_fields
from atriz_database import ConfigurationError
from atriz_pshop.db import target

__all__ = ["SETTINGS_STATE_KEY", "PshopSettings", "settings_of"]

SETTINGS_STATE_KEY = "pshop_settings"
"""Where the service keeps its settings in `app.state`."""


@dataclass(frozen=True, kw_only=True)
class PshopSettings(AppSettings):
    """What the shop's service needs (see `AppSettings` for the shared fields)."""

    timezone: str = "UTC"
    """`PSHOP_TIMEZONE`: the IANA zone whose calendar day is the shop's business day (daily
    summaries, same-day voids)."""
    idempotency_hours: int = 24
    """`PSHOP_IDEMPOTENCY_HOURS`: how long an `Idempotency-Key` and its response are kept."""
    lock_timeout: float = 5.0
    """`PSHOP_LOCK_TIMEOUT`: the longest a sale, void or refund waits for a row another one
    holds (a product's stock, a sale); then 503 with `Retry-After`, never a hang."""

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"PSHOP_TIMEZONE={self.timezone!r} is not an IANA time zone (Europe/Madrid)"
            ) from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PshopSettings:
        """The settings from the environment (`.env` is the caller's business)."""
        env = Env(environ)
        return cls(
            **app_fields(env, prefix="PSHOP", service="pshop", target=target, default_port=8003),
            timezone=env.string("PSHOP_TIMEZONE", "UTC"),
            idempotency_hours=env.integer("PSHOP_IDEMPOTENCY_HOURS", 24, low=1, high=168),
            lock_timeout=env.duration("PSHOP_LOCK_TIMEOUT", 5.0, low=0.1, high=60),
        )


def settings_of(app_state: Mapping[str, Any]) -> PshopSettings:
    """The service's settings, from `app.state`."""
    settings = app_state[SETTINGS_STATE_KEY]
    assert isinstance(settings, PshopSettings)
    return settings
