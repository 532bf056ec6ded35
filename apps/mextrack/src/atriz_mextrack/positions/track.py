"""A batch against the vehicle's track: which points are new, and which of those are jumps.

numpy over the batch's columns (`Batch`), so that 10,000 points are judged in about a
millisecond and the new ones can be copied straight into `positions` (one write per row; see
the README's "How a batch is stored"). The caller holds the vehicle's row lock, so the stored
points it passes in are all there are in the batch's range.

**The jump rule.** A point is a `jump` when its implied speed from both neighbours exceeds the
limit (a spike out and back); at either end of the track, where it has one neighbour, when the
speed from that neighbour exceeds it while that neighbour agrees with its own other neighbour.
So one wild fix is flagged, the fix after it is not (it agrees with the track), a genuine gap
(a ferry, a tracker switched off) flags nothing once the next fix confirms it, and a first wild
fix does not condemn the good ones after it. Neighbours are the points already stored (two on
each side of the batch, and those among it) as well as the batch's own. Stored points keep the
quality they were given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from atriz_mextrack.positions.schemas import PointIn

__all__ = [
    "EARTH_RADIUS_M",
    "Batch",
    "Judged",
    "StoredFix",
    "great_circle_m",
    "judge",
    "unix_microseconds",
]

EARTH_RADIUS_M = 6371008.8
"""The Earth's mean radius, as in the SQL function `great_circle_m`."""
_KMH_PER_MS = 3.6
Floats = npt.NDArray[np.float64]


class StoredFix(NamedTuple):
    """A point of the vehicle already stored: a neighbour, and a key the batch may repeat."""

    recorded_at: datetime
    latitude: float
    longitude: float


def unix_microseconds(moments: Sequence[datetime]) -> npt.NDArray[np.int64]:
    """Each moment in whole microseconds since the Unix epoch.

    Through `timestamp()`'s float, the fastest way out of a `datetime`: with the product by a
    million, it is within a quarter of a microsecond of the true value until 2038 and within
    half of one until 2106 (two roundings of half a float's spacing each), so rounding to the
    nearest microsecond gives it exactly (tested over random times up to 2100).
    """
    seconds = np.fromiter(map(datetime.timestamp, moments), np.float64, len(moments))
    return np.rint(seconds * 1e6).astype(np.int64)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Batch:
    """A decoded batch as columns, in the order sent (`None` altitudes and accuracies NaN)."""

    points: Sequence[PointIn]
    recorded_us: npt.NDArray[np.int64]
    latitude: Floats
    longitude: Floats
    speed_kmh: Floats
    heading: Floats
    altitude_m: Floats
    accuracy_m: Floats

    @classmethod
    def of(cls, points: Sequence[PointIn]) -> Batch:
        def column(name: str) -> Floats:
            return np.fromiter(map(attrgetter(name), points), np.float64, len(points))

        def optional(name: str) -> Floats:
            values = [math.nan if v is None else v for v in map(attrgetter(name), points)]
            return np.fromiter(values, np.float64, len(points))

        return cls(
            points,
            unix_microseconds(list(map(attrgetter("recorded_at"), points))),
            column("latitude"),
            column("longitude"),
            column("speed_kmh"),
            column("heading"),
            optional("altitude_m"),
            optional("accuracy_m"),
        )


@dataclass(frozen=True, eq=False)
class Judged:
    batch: Batch
    new: npt.NDArray[np.intp]
    """Indexes in the batch of its points not stored yet, in time order, each fix time once
    (the first sent wins)."""
    jump: npt.NDArray[np.bool_]
    """For each of `new`: whether it is a jump."""

    def newest_ok(self) -> PointIn | None:
        """The newest of the new points that is not a jump: the candidate latest position."""
        ok = self.new[~self.jump]
        return self.batch.points[ok[-1]] if len(ok) else None


def judge(batch: Batch, stored: Sequence[StoredFix], max_speed_kmh: float) -> Judged:
    """The new points of a batch and their jump flags, against the `stored` points of the
    vehicle: those in the batch's time range and two on either side of it, in time order."""
    stored_us = unix_microseconds([fix.recorded_at for fix in stored])
    order = np.argsort(batch.recorded_us, kind="stable")  # of equal times, the first sent
    times = batch.recorded_us[order]
    first_of_time = np.ones(len(order), dtype=bool)
    first_of_time[1:] = times[1:] != times[:-1]
    new = order[first_of_time & ~np.isin(times, stored_us)]
    if not len(new):
        return Judged(batch, new, np.zeros(0, dtype=bool))
    # The whole track in time order: the stored points, then the new ones, sorted together.
    track_us = np.concatenate([stored_us, batch.recorded_us[new]])
    latitude = np.concatenate([[fix.latitude for fix in stored], batch.latitude[new]])
    longitude = np.concatenate([[fix.longitude for fix in stored], batch.longitude[new]])
    in_time = np.argsort(track_us, kind="stable")
    fast = _too_fast(track_us[in_time] / 1e6, latitude[in_time], longitude[in_time], max_speed_kmh)
    jump_on_track = _jumps(fast)
    # Back from track order to `new`'s order: the new points are the track's last entries.
    jump = np.empty(len(new), dtype=bool)
    is_new = in_time >= len(stored_us)
    jump[in_time[is_new] - len(stored_us)] = jump_on_track[is_new]
    return Judged(batch, new, jump)


def great_circle_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Metres between points given in degrees (floats or arrays): the SQL function
    `great_circle_m`'s haversine (atan2 form, so that rounding never takes it past 1)."""
    h = (
        np.sin(np.radians(lat2 - lat1) / 2) ** 2
        + np.cos(np.radians(lat1))
        * np.cos(np.radians(lat2))
        * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arctan2(np.sqrt(h), np.sqrt(np.abs(1 - h)))


def _too_fast(
    seconds: Floats, latitude: Floats, longitude: Floats, limit: float
) -> npt.NDArray[np.bool_]:
    """For each step of the track (from point i to i + 1), whether its implied speed exceeds
    `limit` (km/h)."""
    metres = great_circle_m(latitude[:-1], longitude[:-1], latitude[1:], longitude[1:])
    result: npt.NDArray[np.bool_] = metres * _KMH_PER_MS / np.diff(seconds) > limit
    return result


def _jumps(fast: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Each point's verdict from its steps: in the middle, both steps too fast; at an end, its
    one step too fast while the next step along agrees with the track."""
    points = len(fast) + 1
    jump = np.zeros(points, dtype=bool)
    if points >= 3:
        jump[1:-1] = fast[:-1] & fast[1:]
        jump[0] = fast[0] and not fast[1]
        jump[-1] = fast[-1] and not fast[-2]
    return jump
