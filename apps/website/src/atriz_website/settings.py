"""The website's settings: only what it adds to the kit's `AppSettings` (nothing yet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atriz_core.kit.settings import AppSettings, Env, app_fields
from atriz_website.db import target

__all__ = ["SERVICE", "WebsiteSettings"]

SERVICE = "website"
"""The service's name: its token audience, its log and metric label."""


@dataclass(frozen=True, kw_only=True)
class WebsiteSettings(AppSettings):
    """The website's settings, read from `WEBSITE_*` and the shared `ATRIZ_*` variables."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebsiteSettings:
        return cls(
            **app_fields(
                Env(environ), prefix="WEBSITE", service=SERVICE, target=target, default_port=8001
            )
        )
