"""Partitions created ahead by several workers at once: each day once, no worker fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from atriz_core.testing import DatabaseFactory
from atriz_mextrack.positions import partitions


async def test_workers_starting_together_create_each_day_once(
    migrated_database: DatabaseFactory,
) -> None:
    url = migrated_database("mextrack").url
    pools = [await asyncpg.create_pool(url, min_size=1, max_size=1) for _ in range(4)]
    try:
        created = await asyncio.gather(
            *(partitions.ensure_ahead(pool, 7, today=datetime.now(UTC).date()) for pool in pools)
        )
        connection = await asyncpg.connect(url)
        try:
            found = await partitions.list_partitions(connection)
        finally:
            await connection.close()
    finally:
        for pool in pools:
            await pool.close()

    names = sorted(name for batch in created for name in batch)
    assert len(found) == 9  # yesterday, today and 7 days ahead
    assert names == sorted(p.name for p in found), "each day created by exactly one worker"
