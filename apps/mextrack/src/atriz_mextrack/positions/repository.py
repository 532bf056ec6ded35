"""Position statements, one function each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_mextrack.positions.schemas import DayStats, LatestPosition, Position, Stats

__all__ = [
    "BY_TIME",
    "BY_VEHICLE",
    "STAGING_COLUMNS",
    "Stored",
    "count_jumps",
    "list_latest",
    "list_positions",
    "stage_points",
    "stats",
    "stats_by_day",
    "store_staged",
]

BY_TIME = Keyset("mextrack.positions.by_time", ("recorded_at",))
BY_VEHICLE = Keyset("mextrack.positions.latest.by_vehicle", ("l.vehicle_id",))
_COLUMNS = (
    "recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,"
    " quality, received_at"
)
STAGING_COLUMNS = (
    "ordinal",
    "recorded_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "altitude_m",
    "accuracy_m",
)

# A batch goes through a temporary table of the session (emptied at every commit): COPY is the
# fastest way in, and from there one INSERT skips duplicates (those repeated in the batch, and
# those already stored, read in the same statement: the caller holds the vehicle's row lock, so
# no other batch of the vehicle commits meanwhile) and judges each point against its
# neighbours, stored ones included, in SQL.
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS positions_staging (
    ordinal integer NOT NULL,
    recorded_at timestamptz NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    speed_kmh real NOT NULL,
    heading real NOT NULL,
    altitude_m real,
    accuracy_m real
) ON COMMIT DELETE ROWS
"""

# $1 vehicle, $2 the speed limit (km/h), $3 and $4 the batch's first and last fix.
#
# A point is a `jump` when its implied speed from both neighbours exceeds the limit (a spike
# out and back); at either end of the track, where it has one neighbour, when the speed from
# that neighbour exceeds it while that neighbour agrees with its own other neighbour. So one
# wild fix is flagged, the fix after it is not (it agrees with the track), a genuine gap
# (a ferry, a tracker switched off) flags nothing once the next fix confirms it, and a first
# wild fix does not condemn the good ones after it. Neighbours are the points already stored
# (two on each side of the batch, and those among it) as well as the batch's own. Stored
# points keep the quality they were given.
_STORE = """
WITH batch AS (
    SELECT DISTINCT ON (recorded_at)
        recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m
    FROM positions_staging
    ORDER BY recorded_at, ordinal
),
stored AS (
    SELECT recorded_at, latitude, longitude FROM positions
    WHERE vehicle_id = $1 AND recorded_at BETWEEN $3 AND $4
    UNION ALL
    (SELECT recorded_at, latitude, longitude FROM positions
     WHERE vehicle_id = $1 AND recorded_at < $3 ORDER BY recorded_at DESC LIMIT 2)
    UNION ALL
    (SELECT recorded_at, latitude, longitude FROM positions
     WHERE vehicle_id = $1 AND recorded_at > $4 ORDER BY recorded_at LIMIT 2)
),
track AS (
    SELECT recorded_at, latitude, longitude, NULL::real AS speed_kmh, NULL::real AS heading,
           NULL::real AS altitude_m, NULL::real AS accuracy_m, false AS fresh
    FROM stored
    UNION ALL
    SELECT b.recorded_at, b.latitude, b.longitude, b.speed_kmh, b.heading, b.altitude_m,
           b.accuracy_m, true
    FROM batch b
    WHERE NOT EXISTS (SELECT FROM stored s WHERE s.recorded_at = b.recorded_at)
),
-- The implied speed (km/h) from the previous point.
steps AS (
    SELECT *,
        great_circle_m(lag(latitude) OVER w, lag(longitude) OVER w, latitude, longitude) * 3.6
            / extract(epoch FROM recorded_at - lag(recorded_at) OVER w) AS speed_in
    FROM track
    WINDOW w AS (ORDER BY recorded_at)
),
judged AS (
    SELECT *,
        CASE
            WHEN speed_in IS NOT NULL AND lead(speed_in) OVER w IS NOT NULL
                THEN speed_in > $2 AND lead(speed_in) OVER w > $2
            WHEN speed_in IS NOT NULL
                THEN speed_in > $2 AND coalesce(lag(speed_in) OVER w <= $2, false)
            WHEN lead(speed_in) OVER w IS NOT NULL
                THEN lead(speed_in) OVER w > $2
                     AND coalesce(lead(speed_in, 2) OVER w <= $2, false)
            ELSE false
        END AS is_jump
    FROM steps
    WINDOW w AS (ORDER BY recorded_at)
),
inserted AS (
    INSERT INTO positions (
        vehicle_id, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m,
        accuracy_m, quality
    )
    SELECT $1, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,
           CASE WHEN is_jump THEN 'jump' ELSE 'ok' END
    FROM judged
    WHERE fresh
    RETURNING recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,
              received_at, quality
),
latest AS (
    INSERT INTO latest_positions AS current (
        vehicle_id, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m,
        accuracy_m, received_at
    )
    SELECT $1, recorded_at, latitude, longitude, speed_kmh, heading, altitude_m, accuracy_m,
           received_at
    FROM inserted
    WHERE quality = 'ok'
    ORDER BY recorded_at DESC
    LIMIT 1
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
    RETURNING 1
)
SELECT count(*) AS new,
       count(*) FILTER (WHERE quality = 'jump') AS jump,
       (SELECT count(*) FROM latest) > 0 AS latest_moved
FROM inserted
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


@dataclass(frozen=True)
class Stored:
    new: int
    jump: int
    latest_moved: bool


async def stage_points(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """COPY `records` (in `STAGING_COLUMNS` order) into the session's staging table."""
    await conn.execute(_STAGING)
    await conn.copy_records_to_table("positions_staging", records=records, columns=STAGING_COLUMNS)


async def store_staged(
    conn: asyncpg.Connection,
    vehicle_id: uuid.UUID,
    max_speed_kmh: float,
    first: datetime,
    last: datetime,
) -> Stored:
    """Insert the staged points that are new, judged, and move the latest position."""
    row = await conn.fetchrow(_STORE, vehicle_id, max_speed_kmh, first, last)
    return Stored(row["new"], row["jump"], row["latest_moved"])


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
