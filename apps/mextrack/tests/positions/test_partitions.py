"""Partitions: created ahead by several workers at once (each day once, no worker fails), and
by batches only for the days of their points, and far back only by a dispatcher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from atriz_core.testing import DatabaseFactory, UserFactory
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


async def partition_count(mextrack: Any) -> int:
    count: int = await mextrack.sql(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'positions'::regclass"
    )
    return count


async def test_a_batch_makes_partitions_only_for_the_days_of_its_points(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """Two points 30 days apart make two partitions, not 31: every partition is one more that
    each query time does not narrow has to lock."""
    owner = await make_user()
    vehicle_id = (await mextrack.vehicle(owner))["id"]
    before = await partition_count(mextrack)
    start = now - timedelta(days=60)

    posted = await mextrack.post_points(
        vehicle_id,
        [helpers.point(start), helpers.point(start + timedelta(days=30))],
        owner.headers,
    )

    assert posted.status_code == 200, posted.text
    assert await partition_count(mextrack) == before + 2


async def test_only_a_dispatcher_opens_days_further_back_than_the_backfill(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """An owner (or their tracker) sends no day without positions older than
    MEXTRACK_BACKFILL_DAYS (90): any user could otherwise have a partition made for every day
    since 2000 and exhaust the server's lock table. A dispatcher imports it; then the day is
    open to the owner too."""
    owner = await make_user()
    dispatcher = await make_user(roles=("mextrack.dispatcher",))
    vehicle_id = (await mextrack.vehicle(owner))["id"]
    token = (
        await mextrack.client.post(f"/vehicles/{vehicle_id}/device-token", headers=owner.headers)
    ).json()["token"]
    long_ago = now - timedelta(days=200)
    before = await partition_count(mextrack)

    by_owner = await mextrack.post_points(
        vehicle_id,
        [helpers.point(long_ago + timedelta(days=1)), helpers.point(long_ago)],
        owner.headers,
    )
    by_tracker = await mextrack.post_points(
        vehicle_id, [helpers.point(long_ago)], {"Authorization": f"Bearer {token}"}
    )
    unchanged = await partition_count(mextrack)
    by_dispatcher = await mextrack.post_points(
        vehicle_id, [helpers.point(long_ago)], dispatcher.headers
    )
    then_by_owner = await mextrack.post_points(
        vehicle_id, [helpers.point(long_ago + timedelta(minutes=1))], owner.headers
    )

    for refused in (by_owner, by_tracker):
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["errors"]
        # The earliest day without positions is named by its first point.
        assert problem["field"] == ("[1].recorded_at" if refused is by_owner else "[0].recorded_at")
        assert "dispatcher" in problem["reason"]
    assert unchanged == before
    assert by_dispatcher.status_code == 200, by_dispatcher.text
    assert then_by_owner.status_code == 200, then_by_owner.text
    assert (
        await mextrack.sql("SELECT count(*) FROM positions WHERE vehicle_id = $1", vehicle_id) == 2
    )


async def test_batches_queued_on_a_vehicle_while_its_batch_makes_a_partition_all_land(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """Eight batches of one vehicle, each on a day without a partition, on a pool of six: the
    five queued for the vehicle hold five connections, and the batch holding the vehicle makes
    its partition on a connection of its own. Made on one more of the same pool, it waited
    for one that the batches queued behind it held: every request (another user's read too)
    waited out the acquire timeout, and half the batches got 503."""
    owner, other = await make_user(), await make_user()
    vehicle_id = (await mextrack.vehicle(owner))["id"]
    others_vehicle = (await mextrack.vehicle(other))["id"]
    first_day = now - timedelta(days=30)

    *posted, read = await asyncio.gather(
        *(
            mextrack.post_points(
                vehicle_id, [helpers.point(first_day + timedelta(days=n))], owner.headers
            )
            for n in range(8)
        ),
        mextrack.client.get(f"/vehicles/{others_vehicle}", headers=other.headers),
    )

    assert [response.status_code for response in posted] == [200] * 8, [
        response.text for response in posted if response.status_code != 200
    ]
    assert read.status_code == 200
    assert mextrack.in_flight.peak >= 7
