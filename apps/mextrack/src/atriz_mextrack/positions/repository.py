"""Position statements, one function each."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import numpy as np

from atriz_core.kit.pagination import Keyset
from atriz_mextrack.positions.binary_copy import CopyColumn, binary_copy, copy_source
from atriz_mextrack.positions.schemas import DayStats, LatestPosition, PointIn, Position, Stats
from atriz_mextrack.positions.track import Judged, StoredFix

__all__ = [
    "BY_TIME",
    "BY_VEHICLE",
    "COPY_COLUMNS",
    "copy_positions",
    "count_jumps",
    "list_latest",
    "list_positions",
    "move_latest",
    "stats",
    "stats_by_day",
    "stored_neighbours",
    "track_span",
]

BY_TIME = Keyset("mextrack.positions.by_time", ("recorded_at",))
BY_VEHICLE = Keyset("mextrack.positions.latest.by_vehicle", ("l.vehicle_id",))
_COLUMNS = (
    "recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,"
    " quality, received_at"
)
# The stored points a batch is judged and deduplicated against (`track.judge`): those in its
# time range, and the two on either side. $1 vehicle, $2 and $3 the batch's first and last fix,
# $4 and $5 how far either side may reach (`neighbour_bounds`): without them, each side would
# plan and lock every partition from the batch to the end of time.
_NEIGHBOURS = """
SELECT recorded_at, latitude, longitude FROM positions
WHERE vehicle_id = $1 AND recorded_at BETWEEN $2 AND $3
UNION ALL
(SELECT recorded_at, latitude, longitude FROM positions
 WHERE vehicle_id = $1 AND recorded_at < $2 AND recorded_at >= $4
 ORDER BY recorded_at DESC LIMIT 2)
UNION ALL
(SELECT recorded_at, latitude, longitude FROM positions
 WHERE vehicle_id = $1 AND recorded_at > $3 AND recorded_at < $5
 ORDER BY recorded_at LIMIT 2)
"""
# The days that hold the two stored points before a batch: the three latest days with points up
# to its first fix's day (that day may hold none before the fix; each earlier one holds one at
# least); after it, the three earliest from its last fix's day. $2 and $3 those two days.
_NEIGHBOUR_DAYS = """
SELECT
    (SELECT min(day) FROM (
        SELECT day FROM vehicle_track_days WHERE vehicle_id = $1 AND day <= $2
        ORDER BY day DESC LIMIT 3) AS before) AS earliest,
    (SELECT max(day) FROM (
        SELECT day FROM vehicle_track_days WHERE vehicle_id = $1 AND day >= $3
        ORDER BY day LIMIT 3) AS after) AS latest
"""
_TRACK_SPAN = """
SELECT min(day) AS first, max(day) AS last FROM vehicle_track_days
WHERE vehicle_id = $1 AND day BETWEEN $2 AND $3
"""
COPY_COLUMNS = (
    "vehicle_id",
    "recorded_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "altitude_m",
    "accuracy_m",
    "quality",
)
# Moved only by a newer fix: a late batch never takes it back. `received_at` is now(), the
# transaction's time, as the copied rows' default.
_MOVE_LATEST = """
INSERT INTO latest_positions AS current (
    vehicle_id, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,
    received_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
ON CONFLICT (vehicle_id) DO UPDATE SET
    recorded_at = excluded.recorded_at,
    latitude = excluded.latitude,
    longitude = excluded.longitude,
    speed_kmh = excluded.speed_kmh,
    heading = excluded.heading,
    altitude_m = excluded.altitude_m,
    accuracy_m = excluded.accuracy_m,
    received_at = excluded.received_at
WHERE excluded.recorded_at > current.recorded_at
RETURNING true
"""

_PAGE = f"""
SELECT {_COLUMNS} FROM positions
WHERE vehicle_id = $1 AND recorded_at >= $2 AND recorded_at < $3 AND ($4 OR quality = 'ok')
{{after}}
ORDER BY {BY_TIME.order_by()}
LIMIT $5
"""
_PAGE_FIRST = _PAGE.format(after="")
_PAGE_AFTER = _PAGE.format(after=f"AND {BY_TIME.after(6)}")

_LATEST = f"""
SELECT l.vehicle_id, v.name, v.plate, v.status, l.recorded_at, l.latitude, l.longitude,
       l.speed_kmh, l.heading, l.altitude_m, l.accuracy_m, l.received_at
FROM latest_positions l
JOIN vehicles v ON v.id = l.vehicle_id
WHERE {{where}}
ORDER BY {BY_VEHICLE.order_by()}
LIMIT $1
"""
_LATEST_QUERIES = {
    (False, False): _LATEST.format(where="true"),
    (False, True): _LATEST.format(where=BY_VEHICLE.after(2)),
    (True, False): _LATEST.format(where="v.owner_id = $2"),
    (True, True): _LATEST.format(where=f"v.owner_id = $2 AND {BY_VEHICLE.after(3)}"),
}

_STATS_TRACK = """
WITH track AS (
    SELECT recorded_at, speed_kmh,
           great_circle_m(lag(latitude) OVER w, lag(longitude) OVER w, latitude, longitude)
               AS step_m
    FROM positions
    WHERE vehicle_id = $1 AND recorded_at >= $2 AND recorded_at < $3 AND quality = 'ok'
    WINDOW w AS (ORDER BY recorded_at)
)
"""
_FIGURES = """
count(*)::integer AS point_count, coalesce(sum(step_m), 0)::double precision AS distance_m,
max(speed_kmh)::double precision AS max_speed_kmh,
avg(speed_kmh)::double precision AS avg_speed_kmh,
min(recorded_at) AS first_fix_at, max(recorded_at) AS last_fix_at
"""
_STATS = f"{_STATS_TRACK} SELECT {_FIGURES} FROM track"
_STATS_BY_DAY = f"""{_STATS_TRACK}
SELECT (recorded_at AT TIME ZONE $4)::date AS day, {_FIGURES}
FROM track GROUP BY 1 ORDER BY 1
"""
_JUMPS = """
SELECT count(*)::integer FROM positions
WHERE vehicle_id = $1 AND recorded_at >= $2 AND recorded_at < $3 AND quality = 'jump'
"""


async def stored_neighbours(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, first: datetime, last: datetime
) -> list[StoredFix]:
    """The vehicle's stored points from `first` to `last`, and two on either side: two
    statements, the first finding the days the second may read."""
    days = await conn.fetchrow(_NEIGHBOUR_DAYS, vehicle_id, utc_day(first), utc_day(last))
    earliest = first if days["earliest"] is None else day_start(days["earliest"])
    latest = last if days["latest"] is None else day_start(days["latest"] + timedelta(days=1))
    rows = await conn.fetch(_NEIGHBOURS, vehicle_id, first, last, earliest, latest)
    return [StoredFix(*row) for row in rows]


async def track_span(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """From the start of the first to the end of the last UTC day within `[start, end)` on
    which the vehicle has points; None when it has none there."""
    span = await conn.fetchrow(
        _TRACK_SPAN, vehicle_id, utc_day(start), utc_day(end - timedelta(microseconds=1))
    )
    if span["first"] is None:
        return None
    return day_start(span["first"]), day_start(span["last"] + timedelta(days=1))


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_start(day: date) -> datetime:
    """Midnight UTC starting `day`."""
    return datetime.combine(day, time(), UTC)


async def copy_positions(conn: asyncpg.Connection, vehicle_id: uuid.UUID, judged: Judged) -> None:
    """COPY the judged batch's new points into `positions` (their partitions must exist), each
    `ok` or `jump`, in PostgreSQL's binary format written from the batch's columns."""
    batch, new = judged.batch, judged.new
    altitude, accuracy = batch.altitude_m[new], batch.accuracy_m[new]
    stream = binary_copy(
        [
            CopyColumn("uuid", vehicle_id.bytes),
            CopyColumn("timestamptz", batch.recorded_us[new]),
            CopyColumn("float8", batch.latitude[new]),
            CopyColumn("float8", batch.longitude[new]),
            CopyColumn("float4", batch.speed_kmh[new]),
            CopyColumn("float4", batch.heading[new]),
            CopyColumn("float4", altitude, nulls=np.isnan(altitude)),
            CopyColumn("float4", accuracy, nulls=np.isnan(accuracy)),
            CopyColumn("text", np.where(judged.jump, b"jump", b"ok")),
        ],
        len(new),
    )
    await conn.copy_to_table(
        "positions", source=copy_source(stream), columns=COPY_COLUMNS, format="binary"
    )


async def move_latest(conn: asyncpg.Connection, vehicle_id: uuid.UUID, point: PointIn) -> bool:
    """Make `point` the vehicle's latest position if it is newer; whether it was."""
    moved: bool | None = await conn.fetchval(
        _MOVE_LATEST,
        vehicle_id,
        point.recorded_at,
        point.latitude,
        point.longitude,
        point.speed_kmh,
        point.heading,
        point.altitude_m,
        point.accuracy_m,
    )
    return moved is True


async def list_positions(
    conn: asyncpg.Connection,
    vehicle_id: uuid.UUID,
    start: datetime,
    end: datetime,
    include_jumps: bool,
    after: tuple[Any, ...] | None,
    fetch: int,
) -> list[Position]:
    """Points in [start, end) in time order, after the keyset position `after`."""
    args: list[Any] = [vehicle_id, start, end, include_jumps, fetch]
    if after is None:
        rows = await conn.fetch(_PAGE_FIRST, *args)
    else:
        rows = await conn.fetch(_PAGE_AFTER, *args, *after)
    return [Position(**dict(row)) for row in rows]


async def list_latest(
    conn: asyncpg.Connection,
    owner_id: uuid.UUID | None,
    after: tuple[Any, ...] | None,
    fetch: int,
) -> list[LatestPosition]:
    """Latest positions by vehicle id: of `owner_id`'s vehicles, or of all when None."""
    query = _LATEST_QUERIES[(owner_id is not None, after is not None)]
    args: list[Any] = [fetch]
    if owner_id is not None:
        args.append(owner_id)
    if after is not None:
        args.extend(after)
    return [LatestPosition(**dict(row)) for row in await conn.fetch(query, *args)]


async def stats(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, start: datetime, end: datetime
) -> Stats:
    return Stats(**dict(await conn.fetchrow(_STATS, vehicle_id, start, end)))


async def stats_by_day(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, start: datetime, end: datetime, tz: str
) -> list[DayStats]:
    rows = await conn.fetch(_STATS_BY_DAY, vehicle_id, start, end, tz)
    return [DayStats(**dict(row)) for row in rows]


async def count_jumps(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    count: int = await conn.fetchval(_JUMPS, vehicle_id, start, end)
    return count
