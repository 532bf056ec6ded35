"""The development seeds: vehicles of the seeded users with a day of tracks, idempotent."""

from __future__ import annotations

import asyncpg

from atriz_core.testing import DatabaseFactory
from atriz_database.seeds import seed
from atriz_mextrack.db import target


async def counts(url: str) -> tuple[int, int, int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM vehicles), (SELECT count(*) FROM positions),"
            " (SELECT count(*) FROM latest_positions),"
            " (SELECT count(*) FROM positions WHERE quality = 'jump')"
        )
        return tuple(row)  # type: ignore[return-value]
    finally:
        await connection.close()


async def test_the_seeds_give_a_day_of_plausible_tracks_and_run_twice_harmlessly(
    migrated_database: DatabaseFactory,
) -> None:
    database = migrated_database("mextrack", seeded=True)
    first = await counts(database.url)

    seed(target, database.url)

    assert first == (3, 3600, 3, 0)
    assert await counts(database.url) == first
    connection = await asyncpg.connect(database.url)
    try:
        fastest = await connection.fetchval(
            "SELECT max(great_circle_m(lat0, lon0, lat1, lon1) * 3.6 / 30) FROM ("
            " SELECT latitude AS lat1, longitude AS lon1,"
            "  lag(latitude) OVER w AS lat0, lag(longitude) OVER w AS lon0 FROM positions"
            "  WINDOW w AS (PARTITION BY vehicle_id ORDER BY recorded_at)) steps"
        )
    finally:
        await connection.close()
    assert 5 < fastest < 120, "city driving speeds"
