"""Checks for the times and time zones a request carries, before they reach PostgreSQL.

An aware `datetime` passes msgspec and Litestar anywhere in Python's years 1 to 9999, but its
offset can push it out of that range once in UTC (asyncpg's conversion then overflows: a 500),
and asyncpg stores `datetime.min` as `-infinity`, which no page cursor can carry. A time zone
name that `zoneinfo` finds may still be a folder (`Europe`) or a file PostgreSQL does not know
(`right/UTC`). So services check both here, and a bad one is a 422 naming its field.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache

from atriz_core.errors import InvalidInputError

__all__ = ["EARLIEST", "LATEST", "checked_time", "checked_time_zone", "time_zones"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time a request may carry."""
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""Every time a request carries is before this one."""


def checked_time(value: datetime, field: str) -> datetime:
    """`value` in UTC, when it has a UTC offset and lies in [EARLIEST, LATEST); otherwise
    `InvalidInputError` naming `field`."""
    if value.tzinfo is None:
        raise InvalidInputError.for_field(field, "needs a UTC offset (e.g. 2026-12-02T08:00:00Z)")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise InvalidInputError.for_field(
            field, f"must be from {EARLIEST.year} to {LATEST.year - 1}"
        )
    return in_utc


@cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names of this system's database (no folders, no `right/` copies)."""
    return frozenset(zoneinfo.available_timezones())


def checked_time_zone(name: str, field: str) -> str:
    """`name` when it is one of `time_zones()`; otherwise `InvalidInputError` naming `field`."""
    if name not in time_zones():
        raise InvalidInputError.for_field(
            field, "is not an IANA time zone name (e.g. Europe/Madrid)"
        )
    return name
