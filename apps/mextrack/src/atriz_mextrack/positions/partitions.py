"""The daily partitions of `positions`: created ahead, listed and dropped by retention.

Creating a partition takes an ACCESS EXCLUSIVE lock on `positions` until its transaction
ends, so it is done in a short transaction of its own (never inside a batch's transaction,
which would hold that lock, and so block every reader, until the batch commits), with a lock
timeout so that a long reader makes it fail (503, retry) rather than queue readers behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

__all__ = [
    "PARTITIONS_POOL_KEY",
    "Partition",
    "drop_partition",
    "ensure_ahead",
    "ensure_partitions",
    "list_partitions",
    "missing_days",
]

LOCK_TIMEOUT = "2s"
PARTITIONS_POOL_KEY = "mextrack_partitions_pool"
"""`app.state`'s pool of one connection that partitions are made on (see `app.py`)."""
_MISSING = """
SELECT day
FROM unnest($1::date[]) AS day
WHERE to_regclass(format('positions_p%s', to_char(day, 'YYYYMMDD'))) IS NULL
ORDER BY day
"""
_ENSURE = "SELECT ensure_positions_partition($1::date)"
_LIST = """
SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'positions'::regclass
ORDER BY c.relname
"""
_TIMESTAMP = "SELECT $1::text::timestamptz"
_FORGET_DAYS = """
DELETE FROM vehicle_track_days
WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date
  AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date
"""
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    starts: datetime | None
    """None for a DEFAULT partition (the service never makes one)."""
    ends: datetime | None
    bytes: int


async def missing_days(conn: asyncpg.Connection, days: Iterable[date]) -> list[date]:
    """Those of `days` (UTC) that have no partition yet, in order."""
    return [row[0] for row in await conn.fetch(_MISSING, list(days))]


async def ensure_partitions(pool: asyncpg.Pool, days: list[date]) -> list[str]:
    """Create the partitions of `days` that do not exist, each in a short transaction of its
    own; the names of those created."""
    created = []
    async with pool.acquire() as connection:
        for day in days:
            async with connection.transaction():
                await connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                name = await connection.fetchval(_ENSURE, day)
            if name is not None:
                created.append(name)
    return created


async def ensure_ahead(
    pool: asyncpg.Pool, days_ahead: int, *, today: date | None = None
) -> list[str]:
    """Partitions from yesterday to `days_ahead` days from today (UTC)."""
    start = (today or datetime.now(UTC).date()) - timedelta(days=1)
    return await ensure_partitions(pool, [start + timedelta(days=n) for n in range(days_ahead + 2)])


async def list_partitions(conn: asyncpg.Connection) -> list[Partition]:
    """Every partition of `positions` with its range and size on disk."""
    found = []
    for row in await conn.fetch(_LIST):
        match = _BOUND.search(row["bound"])
        starts = ends = None
        if match is not None:
            starts = await conn.fetchval(_TIMESTAMP, match[1])
            ends = await conn.fetchval(_TIMESTAMP, match[2])
        found.append(Partition(row["name"], starts, ends, row["bytes"]))
    return found


async def drop_partition(conn: asyncpg.Connection, partition: Partition) -> None:
    """Drop one partition (from `list_partitions`, i.e. from the catalog), and forget its days
    in `vehicle_track_days` in the same transaction: a batch of that day waits for its commit,
    then makes the partition again and notes the day again. Forgotten after the commit, the
    day of such a batch's points was gone, and every read of them with it."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # As the owner of `positions`, which the service's login is not (see the migration
        # `mextrack_writer`); the function drops nothing but a partition of it.
        await conn.execute("SELECT drop_positions_partition($1)", partition.name)
        if partition.starts is not None and partition.ends is not None:
            await conn.execute(_FORGET_DAYS, partition.starts, partition.ends)
