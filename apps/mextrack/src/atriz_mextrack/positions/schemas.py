"""Position request and response bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "MAX_POINTS",
    "DayStats",
    "IngestResult",
    "LatestPosition",
    "PointIn",
    "Position",
    "Quality",
    "Stats",
    "StatsReport",
]

MAX_POINTS = 10_000
"""The most points one batch may hold."""

Quality = Literal["ok", "jump"]


class PointIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One GPS fix as a tracker sends it (`gc=False`: scalars only, and 10,000 of them at a
    time need not wake the garbage collector)."""

    recorded_at: Annotated[
        datetime,
        msgspec.Meta(
            tz=True,
            description="The fix time, with its UTC offset; at most 5 minutes in the future.",
        ),
    ]
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    speed_kmh: Annotated[float, msgspec.Meta(ge=0, le=5000, description="km/h")]
    heading: Annotated[float, msgspec.Meta(ge=0, lt=360, description="Degrees from north.")]
    altitude_m: Annotated[float, msgspec.Meta(ge=-1000, le=100_000)] | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class IngestResult(msgspec.Struct):
    """What a batch did: every point is counted once, as new or as a duplicate."""

    received: int
    new: int
    """Points stored (`jump` ones included)."""
    duplicate: int
    """Points already stored (same vehicle and `recorded_at`), or repeated within the batch."""
    jump: int
    """New points stored with quality `jump`: their implied speed from their neighbours
    exceeds the limit. Kept, left out of tracks and statistics unless asked for."""
    latest_moved: bool
    """Whether the vehicle's latest position moved (only a newer `ok` fix moves it)."""


class Position(msgspec.Struct):
    recorded_at: datetime
    latitude: float
    longitude: float
    speed_kmh: float
    heading: float
    altitude_m: float | None
    accuracy_m: float | None
    quality: Quality
    received_at: datetime


class LatestPosition(msgspec.Struct):
    vehicle_id: uuid.UUID
    name: str
    plate: str
    status: str
    recorded_at: datetime
    latitude: float
    longitude: float
    speed_kmh: float
    heading: float
    altitude_m: float | None
    accuracy_m: float | None
    received_at: datetime


class Stats(msgspec.Struct):
    point_count: int
    """`ok` points in the range."""
    distance_m: float
    """Great-circle distance along the `ok` points, in metres (jumps left out)."""
    max_speed_kmh: float | None
    avg_speed_kmh: float | None
    """The mean of the reported speeds."""
    first_fix_at: datetime | None
    last_fix_at: datetime | None


class DayStats(msgspec.Struct):
    day: date
    """The calendar day in the requested time zone; a step that crosses midnight counts on the
    day it ends."""
    point_count: int
    distance_m: float
    max_speed_kmh: float | None
    avg_speed_kmh: float | None
    first_fix_at: datetime | None
    last_fix_at: datetime | None


class StatsReport(msgspec.Struct):
    vehicle_id: uuid.UUID
    total: Stats
    jump_count: int
    """`jump` points in the range, left out of every figure."""
    days: list[DayStats] | None = None
    """With `by=day`: one entry per calendar day (in `tz`) that has points."""
    tz: str | None = None
