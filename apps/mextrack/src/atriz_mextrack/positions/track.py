"""A batch against the vehicle's track: which points are new, and which of those are jumps.

Plain Python over the decoded points, so that the new ones can be copied straight into
`positions` (one write per row; see the README's "How a batch is stored"). The caller holds the
vehicle's row lock, so the stored points it passes in are all there are in the batch's range.

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
from datetime import datetime
from itertools import islice
from operator import attrgetter
from typing import NamedTuple

from atriz_mextrack.positions.schemas import PointIn

__all__ = ["EARTH_RADIUS_M", "Judged", "StoredFix", "great_circle_m", "judge"]

EARTH_RADIUS_M = 6371008.8
"""The Earth's mean radius, as in the SQL function `great_circle_m`."""
_KMH_PER_MS = 3.6
_by_time = attrgetter("recorded_at")


class StoredFix(NamedTuple):
    """A point of the vehicle already stored: a neighbour, and a key the batch may repeat."""

    recorded_at: datetime
    latitude: float
    longitude: float


class Judged(NamedTuple):
    new: list[PointIn]
    """The batch's points not stored yet, in time order, each fix time once (the first sent
    wins)."""
    jump: list[bool]
    """For each of `new`: whether it is a jump."""

    def newest_ok(self) -> PointIn | None:
        """The newest of the new points that is not a jump: the candidate latest position."""
        for point, flagged in zip(reversed(self.new), reversed(self.jump), strict=True):
            if not flagged:
                return point
        return None


def judge(points: Sequence[PointIn], stored: Sequence[StoredFix], max_speed_kmh: float) -> Judged:
    """The new points of a batch and their jump flags, against the `stored` points of the
    vehicle: those in the batch's time range and two on either side of it, in time order."""
    taken = {fix.recorded_at for fix in stored}
    new: list[PointIn] = []
    for point in sorted(points, key=_by_time):  # stable: of equal times, the first sent
        if point.recorded_at not in taken:
            taken.add(point.recorded_at)
            new.append(point)
    if not new:
        return Judged(new, [])
    # The whole track in time order, as (time, latitude, longitude, index in `new` or -1).
    track = sorted(
        [(fix.recorded_at, fix.latitude, fix.longitude, -1) for fix in stored]
        + [(p.recorded_at, p.latitude, p.longitude, i) for i, p in enumerate(new)]
    )
    fast = _too_fast(track, max_speed_kmh)
    jump = [False] * len(new)
    for position, (_, _, _, index) in enumerate(track):
        if index >= 0:
            jump[index] = _is_jump(fast, position)
    return Judged(new, jump)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two points given in degrees: the SQL function `great_circle_m`'s
    haversine (atan2 form, so that rounding never takes it past 1)."""
    h = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1))
        * math.cos(math.radians(lat2))
        * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.atan2(math.sqrt(h), math.sqrt(abs(1 - h)))


def _too_fast(track: list[tuple[datetime, float, float, int]], limit: float) -> list[bool | None]:
    """Whether the implied speed of each point of `track` from the one before it exceeds
    `limit` (km/h); None for the first, and one None past the end (so that looking one ahead
    needs no bounds check).

    A cheap bound first: a great-circle path is never longer than going along the meridian,
    then along the parallel, R(|dlat| + |dlon|) (the parallel's arc is R cos(lat) |dlon|), so a
    step within that bound of what the limit allows is not too fast. Only the others, wild
    fixes and genuine gaps, cost a haversine: 10,000 points take a few milliseconds.
    """
    degrees_per_second = math.degrees(limit / _KMH_PER_MS / EARTH_RADIUS_M)
    fast: list[bool | None] = [None]
    last_time, last_lat, last_lon = track[0][0].timestamp(), track[0][1], track[0][2]
    for when, lat, lon, _ in islice(track, 1, None):
        time = when.timestamp()
        seconds = time - last_time
        if abs(lat - last_lat) + abs(lon - last_lon) <= degrees_per_second * seconds:
            fast.append(False)
        else:
            metres = great_circle_m(last_lat, last_lon, lat, lon)
            fast.append(metres * _KMH_PER_MS / seconds > limit)
        last_time, last_lat, last_lon = time, lat, lon
    fast.append(None)
    return fast


def _is_jump(fast: list[bool | None], i: int) -> bool:
    here, after = fast[i], fast[i + 1]
    if here is not None and after is not None:
        return here and after
    if here is not None:  # the last point of the track
        return here and fast[i - 1] is False
    if after is not None:  # the first point of the track
        return after and fast[i + 2] is False
    return False  # a track of one point
