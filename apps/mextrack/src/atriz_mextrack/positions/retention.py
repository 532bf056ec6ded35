"""Retention: drop the partitions of `positions` that lie wholly before the cutoff.

Only whole days go (a partition whose end is at or before `now - retention days`); the day
that holds the cutoff stays whole, so up to a day more than the period is kept. Nothing else is
touched but the days the vehicles' tracks are noted on (`vehicle_track_days`):
`latest_positions` keeps every vehicle's last fix however old it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from atriz_mextrack.positions import partitions
from atriz_mextrack.positions.partitions import Partition

__all__ = ["apply_retention", "expired_partitions"]


def expired_partitions(found: list[Partition], cutoff: datetime) -> list[Partition]:
    """The partitions wholly before `cutoff` (a DEFAULT partition, without bounds, never)."""
    return [p for p in found if p.ends is not None and p.ends <= cutoff]


async def apply_retention(
    conn: asyncpg.Connection, *, days: int, now: datetime, dry_run: bool = False
) -> list[Partition]:
    """Drop (unless `dry_run`) every partition older than `days` days before `now`, each in
    its own short transaction; the partitions dropped (or that would be)."""
    expired = expired_partitions(await partitions.list_partitions(conn), now - timedelta(days=days))
    if not dry_run:
        for partition in expired:
            await partitions.drop_partition(conn, partition)
    return expired
