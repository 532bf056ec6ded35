"""The partitions one vehicle's queries lock: those of the days it has points on, not every day
of `positions`. Each partition a query's times do not narrow to is two more locks (the table
and its index); a year of days filled the server's lock table once some 40 batches ran at once.

Each test holds a lock on a partition that the request needs last, so the request waits there
holding every lock it took before, and counts them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from atriz_core.testing import UserFactory, beside, lock_waiters
from atriz_mextrack.positions.schemas import PointIn
from atriz_mextrack.positions.track import Batch, StoredFix, judge

HISTORY_DAYS = 40


async def import_history(mextrack: Any, vehicle_id: str, days: list[datetime]) -> None:
    """Two points at noon UTC on each of `days`, inserted by SQL as an import by hand would be."""
    for day in days:
        noon = datetime.combine(day.date(), time(12), UTC)
        await mextrack.sql("SELECT ensure_positions_partition($1)", noon.date())
        await mextrack.sql(
            "INSERT INTO positions (vehicle_id, recorded_at, latitude, longitude, speed_kmh,"
            " heading) SELECT $1, t, 19.43, -99.13, 0, 0 FROM unnest($2::timestamptz[]) AS t",
            uuid.UUID(vehicle_id),
            [noon, noon + timedelta(minutes=1)],
        )


def partition_of(moment: datetime) -> str:
    return f"positions_p{moment.astimezone(UTC):%Y%m%d}"


async def partition_locks_held_while_waiting(
    mextrack: Any, partition: str, mode: str, request: Any
) -> tuple[int, Any]:
    """Run `request` while `partition` is locked in `mode`; the locks on partitions (and
    their indexes) that it holds once it waits there, and its response."""
    holder = await beside(mextrack.settings.database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(f'LOCK TABLE "{partition}" IN {mode} MODE')
        task = asyncio.create_task(request)
        assert await lock_waiters(holder), "the request waits for the partition"
        held = await holder.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.granted AND c.relname ~ '^positions_p\\d{8}' AND l.pid IN ("
            "  SELECT pid FROM pg_locks WHERE NOT granted AND relation = $1::regclass)",
            partition,
        )
        await transaction.rollback()
        return held, await task
    finally:
        await holder.close()


async def test_an_import_by_hand_notes_its_days(
    mextrack: Any, make_user: UserFactory, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    await import_history(mextrack, vehicle["id"], [now - timedelta(days=3), now])

    days = await mextrack.sql(
        "SELECT array_agg(day ORDER BY day) FROM vehicle_track_days WHERE vehicle_id = $1",
        uuid.UUID(vehicle["id"]),
    )
    assert days == [(now - timedelta(days=3)).date(), now.date()]
    deleted = await mextrack.client.delete(f"/vehicles/{vehicle['id']}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert await mextrack.sql("SELECT count(*) FROM vehicle_track_days") == 0


async def test_a_batch_locks_the_days_beside_it_not_the_whole_history(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    history = [now - timedelta(days=d) for d in range(HISTORY_DAYS, 0, -1)]
    await import_history(mextrack, vehicle["id"], history)
    start = now - timedelta(minutes=1)
    batch = helpers.drive(start, 5)

    held, response = await partition_locks_held_while_waiting(
        mextrack,
        partition_of(start),
        "SHARE",  # reads go on; its COPY, after it read the points beside it, waits
        mextrack.post_points(vehicle["id"], batch, owner.headers),
    )

    assert response.status_code == 200, response.text
    assert response.json()["new"] == 5
    # Today's and the three days before it, each with its index; before: all 40 days.
    assert held <= 8, f"{held} partitions and indexes locked"


async def test_a_read_without_a_range_locks_only_the_days_of_the_vehicles_track(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner, other = await make_user(), await make_user()
    vehicle, others = await mextrack.vehicle(owner), await mextrack.vehicle(other)
    long_ago = [now - timedelta(days=d) for d in range(HISTORY_DAYS + 10, 10, -1)]
    await import_history(mextrack, others["id"], long_ago)
    await import_history(mextrack, vehicle["id"], [now - timedelta(days=2), now])

    held, response = await partition_locks_held_while_waiting(
        mextrack,
        partition_of(now),  # the last day of its track
        "ACCESS EXCLUSIVE",
        mextrack.client.get(f"/vehicles/{vehicle['id']}/positions", headers=owner.headers),
    )

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 4
    # Two days before today's, each with its index; before: the other vehicle's 40 too.
    assert held <= 4, f"{held} partitions and indexes locked"


async def test_the_points_beside_a_batch_are_found_however_far_away(
    mextrack: Any, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """The stored points a batch is judged against are those a scan of the whole track finds:
    here two points 10 days before it, which decide that its first, wild, fix is no jump (it
    has two neighbours, and only one is too far to reach at the speed limit), and two 9 days
    after it."""
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    middle = now - timedelta(days=10)
    await import_history(
        mextrack, vehicle["id"], [middle - timedelta(days=10), now - timedelta(days=1)]
    )
    batch = [
        helpers.point(middle, 22.43, -99.13),
        *helpers.drive(middle + timedelta(seconds=10), 4),
    ]

    response = await mextrack.post_points(vehicle["id"], batch, owner.headers)

    assert response.status_code == 200, response.text
    track = await mextrack.rows(
        "SELECT recorded_at, latitude, longitude FROM positions WHERE vehicle_id = $1"
        " ORDER BY recorded_at",
        uuid.UUID(vehicle["id"]),
    )
    stored = [StoredFix(*row) for row in track if not _in_batch(row["recorded_at"], batch)]
    expected = judge(
        Batch.of([PointIn(**_decoded(p)) for p in batch]),
        stored,
        mextrack.settings.max_speed_kmh,
    )
    assert response.json()["jump"] == int(expected.jump.sum()) == 0


def _in_batch(moment: datetime, batch: list[dict[str, Any]]) -> bool:
    return moment in {datetime.fromisoformat(p["recorded_at"]) for p in batch}


def _decoded(point: dict[str, Any]) -> dict[str, Any]:
    return {**point, "recorded_at": datetime.fromisoformat(point["recorded_at"])}


async def test_the_service_plans_each_statement_for_its_values(mextrack: Any) -> None:
    """A generic plan, built at a statement's sixth run and again after each new partition or
    analyze, would lock every partition (`DatabaseSettings.custom_plans`)."""
    assert await mextrack.app.state.db_pool.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
