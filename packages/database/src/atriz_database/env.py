"""A typed reader of environment variables: each variable is named once, where it is read.

`Env(environ)` reads from any mapping (tests pass a dict; the default is `os.environ`, looked
up at each read, never at import). Empty values count as unset. A malformed value raises
`ConfigurationError` naming the variable, the value and the form that was expected, so that a
process stops at start-up with one clear line rather than misbehaving later. Secrets are the
exception: their messages never repeat the value.

It lives in the database toolkit, not in core's kit, so that the toolkit's own settings
(`DatabaseSettings`) read through it too; the kit re-exports it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import overload
from urllib.parse import urlsplit

from atriz_database.errors import ConfigurationError

__all__ = ["Env", "is_placeholder", "parse_duration"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION_FORM = "a duration such as 30, 30s, 500ms, 5m, 2h or 1d"

# Values copied from an example file or a tutorial rather than generated: a production secret
# that contains one of these was never meant to be used.
_PLACEHOLDER_MARKERS = (
    "change",
    "replace",
    "placeholder",
    "example",
    "dummy",
    "sample",
    "default",
    "insecure",
    "secret",
    "password",
    "todo",
    "fixme",
    "xxxx",
    "<",
)


def is_placeholder(value: str) -> bool:
    """True for a value that reads like a stand-in (`change-me`, `xxxx`, `<secret>`) or has
    too few distinct characters to have been generated (`aaaa...`, `0123012301230123`)."""
    lowered = value.lower()
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS) or len(set(value)) < 8


def parse_duration(raw: str) -> float | None:
    """Seconds in `raw` (`"30"`, `"30s"`, `"500ms"`, `"5m"`, `"2h"`, `"1d"`), or None if it is
    not a duration."""
    match = _DURATION.fullmatch(raw.strip().lower())
    if match is None:
        return None
    return float(match[1]) * _UNIT_SECONDS[match[2]]


class Env:
    """Typed reads of environment variables from `environ` (default: `os.environ`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        """The variable's value, stripped; None when unset or empty."""
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(name, "").strip()
        return value or None

    @overload
    def string(self, name: str) -> str | None: ...
    @overload
    def string(self, name: str, default: str) -> str: ...
    def string(self, name: str, default: str | None = None) -> str | None:
        """A text value, or `default` when unset."""
        value = self.raw(name)
        return default if value is None else value

    def required(self, name: str, why: str) -> str:
        """A text value that must be set; `why` completes "NAME must be set: ..."."""
        value = self.raw(name)
        if value is None:
            raise ConfigurationError(f"{name} must be set: {why}")
        return value

    def integer(
        self, name: str, default: int, *, low: int | None = None, high: int | None = None
    ) -> int:
        """A whole number, or `default` when unset, within `low`..`high` when given."""
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
        _check_bounds(name, value, low, high)
        return value

    def number(
        self, name: str, default: float, *, low: float | None = None, high: float | None = None
    ) -> float:
        """A real number, or `default` when unset, within `low`..`high` when given."""
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
        _check_bounds(name, value, low, high)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """true/false, 1/0, yes/no, on/off (any case), or `default` when unset; anything else is
        refused rather than read as false."""
        raw = self.raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(
            f"{name} must be true or false (also 1/0, yes/no, on/off), got {raw!r}"
        )

    def duration(
        self, name: str, default: float, *, low: float | None = None, high: float | None = None
    ) -> float:
        """Seconds from `30`, `30s`, `500ms`, `5m`, `2h` or `1d` (a bare number is seconds), or
        `default` when unset, within `low`..`high` seconds when given."""
        raw = self.raw(name)
        if raw is None:
            return default
        value = parse_duration(raw)
        if value is None:
            raise ConfigurationError(f"{name} must be {DURATION_FORM}, got {raw!r}")
        _check_bounds(name, value, low, high, unit="s")
        return value

    @overload
    def url(
        self, name: str, *, schemes: tuple[str, ...] = ..., require_host: bool = ...
    ) -> str | None: ...
    @overload
    def url(
        self, name: str, default: str, *, schemes: tuple[str, ...] = ..., require_host: bool = ...
    ) -> str: ...
    def url(
        self,
        name: str,
        default: str | None = None,
        *,
        schemes: tuple[str, ...] = ("http", "https"),
        require_host: bool = True,
    ) -> str | None:
        """A URL whose scheme is one of `schemes` and that names a host (unless `require_host`
        is false: a PostgreSQL URL may name a socket folder in its query instead), or
        `default` when unset. A URL may hold a password, so only its scheme is quoted back."""
        raw = self.raw(name)
        if raw is None:
            return default
        expected = " or ".join(f"{scheme}://" for scheme in schemes)
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a {expected} URL; it does not parse"
            ) from None
        if parts.scheme not in schemes:
            raise ConfigurationError(
                f"{name} must be a {expected} URL, got scheme {parts.scheme or '(none)'!r}"
            )
        if require_host and not parts.hostname:
            raise ConfigurationError(f"{name} must be a {expected} URL with a host name")
        return raw

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Comma-separated values, each stripped, empty ones dropped; `default` when unset or
        when nothing but commas and spaces is set."""
        raw = self.raw(name)
        if raw is None:
            return default
        values = tuple(part.strip() for part in raw.split(",") if part.strip())
        return values or default

    def secret(self, name: str, *, production: bool, min_length: int = 32) -> str | None:
        """A secret, None when unset outside production. In production it must be set and must
        not be a placeholder; anywhere, one that is set must have `min_length` bytes (UTF-8).
        Messages never repeat the value."""
        value = self.raw(name)
        if value is None:
            if production:
                raise ConfigurationError(f"{name} must be set in production")
            return None
        if len(value.encode()) < min_length:
            raise ConfigurationError(
                f"{name} must be at least {min_length} bytes, got {len(value.encode())}"
                " (generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if production and is_placeholder(value):
            raise ConfigurationError(
                f"{name} looks like a placeholder (the value is not repeated here); production"
                " needs a generated secret: python -c 'import secrets;"
                " print(secrets.token_urlsafe(32))'"
            )
        return value


def _check_bounds(
    name: str, value: float, low: float | None, high: float | None, unit: str = ""
) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be between {low:g}{unit} and {high:g}{unit}, got {value:g}{unit}"
        )
    if low is not None and value < low:
        raise ConfigurationError(f"{name} must be at least {low:g}{unit}, got {value:g}{unit}")
    if high is not None and value > high:
        raise ConfigurationError(f"{name} must be at most {high:g}{unit}, got {value:g}{unit}")
