"""A batch of positions: all or nothing, no duplicates, jumps flagged, latest only forward."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from atriz_core.testing import UserFactory, lock_waiters

Mextrack = Any  # the `mextrack` fixture's value (conftest.Mextrack)


@pytest.mark.pgbouncer
async def test_a_batch_is_stored_and_counted(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(hours=1), 100)

    counts = await mextrack.store(vehicle["id"], points, owner.headers)

    assert counts == {"received": 100, "new": 100, "duplicate": 0, "jump": 0, "latest_moved": True}
    assert await mextrack.sql("SELECT count(*) FROM positions") == 100
    latest = await mextrack.sql("SELECT recorded_at FROM latest_positions")
    assert latest == datetime.fromisoformat(points[-1]["recorded_at"])


async def test_a_resent_batch_stores_nothing_new(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(hours=1), 50)
    await mextrack.store(vehicle["id"], points, owner.headers)

    again = await mextrack.store(vehicle["id"], points, owner.headers)
    overlapping = await mextrack.store(
        vehicle["id"], points[25:] + helpers.drive(now - timedelta(minutes=30), 10), owner.headers
    )
    repeated_inside = await mextrack.store(vehicle["id"], [points[0], points[0]], owner.headers)

    assert again == {"received": 50, "new": 0, "duplicate": 50, "jump": 0, "latest_moved": False}
    assert overlapping["new"] == 10
    assert overlapping["duplicate"] == 25
    assert repeated_inside["new"] == 0
    assert repeated_inside["duplicate"] == 2
    assert await mextrack.sql("SELECT count(*) FROM positions") == 60


async def test_one_bad_point_refuses_the_batch_naming_index_and_field(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    start = now - timedelta(hours=1)
    cases = {
        "[3].latitude": {"latitude": 90.5},
        "[3].longitude": {"longitude": -180.01},
        "[3].speed_kmh": {"speed_kmh": -1},
        "[3].heading": {"heading": 360},
        "[3].recorded_at": {"recorded_at": (now + timedelta(minutes=6)).isoformat()},
        "[3].altitude_m": {"altitude_m": "high"},
        "[3].surprise": {"surprise": 1},
    }
    for field, change in cases.items():
        points = helpers.drive(start, 5)
        points[3].update(change)
        response = await mextrack.post_points(vehicle["id"], points, owner.headers)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == field, response.text

    missing = helpers.drive(start, 5)
    del missing[2]["latitude"]
    naive = helpers.drive(start, 5)
    naive[1]["recorded_at"] = "2026-01-01T10:00:00"
    answers = {
        "[2].latitude": await mextrack.post_points(vehicle["id"], missing, owner.headers),
        "[1].recorded_at": await mextrack.post_points(vehicle["id"], naive, owner.headers),
        "body": await mextrack.post_points(vehicle["id"], [], owner.headers),
    }
    for field, response in answers.items():
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    # Malformed, and not UTF-8 (which msgspec refuses with UnicodeDecodeError, not DecodeError).
    for body in (b"[{", b'[{"\xff": 1}]'):
        not_json = await mextrack.client.post(
            f"/vehicles/{vehicle['id']}/positions", content=body, headers=owner.headers
        )
        assert not_json.status_code == 400, (body[:10], not_json.text)
        assert not_json.json()["errors"][0]["field"] == "body"
    assert await mextrack.sql("SELECT count(*) FROM positions") == 0
    assert await mextrack.sql("SELECT count(*) FROM latest_positions") == 0


async def test_ten_thousand_points_pass_and_one_more_is_refused(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(days=1), 10_001, step_s=1)

    too_many = await mextrack.post_points(vehicle["id"], points, owner.headers)
    counts = await mextrack.store(vehicle["id"], points[:10_000], owner.headers)

    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "body"
    assert counts["new"] == 10_000
    assert counts["jump"] == 0


async def test_a_heading_that_rounds_to_360_is_stored_as_north(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(minutes=5), 3)
    points[1]["heading"], points[2]["heading"] = 359.99999, 359.9999

    counts = await mextrack.store(vehicle["id"], points, owner.headers)

    assert counts["new"] == 3
    stored = await mextrack.rows("SELECT heading FROM positions ORDER BY recorded_at")
    assert [row["heading"] for row in stored] == [90.0, 0.0, pytest.approx(359.9999)]
    assert await mextrack.sql("SELECT heading FROM latest_positions") == pytest.approx(359.9999)


async def test_a_late_batch_does_not_move_the_latest_position_back(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    recent = helpers.drive(now - timedelta(minutes=10), 10)
    late = helpers.drive(now - timedelta(hours=3), 10)

    await mextrack.store(vehicle["id"], recent, owner.headers)
    counts = await mextrack.store(vehicle["id"], late, owner.headers)

    assert counts["new"] == 10
    assert counts["latest_moved"] is False
    latest = await mextrack.client.get("/positions/latest", headers=owner.headers)
    assert latest.json()["items"][0]["recorded_at"] == datetime.fromisoformat(
        recent[-1]["recorded_at"]
    ).isoformat().replace("+00:00", "Z")


async def test_a_jump_is_flagged_kept_and_judged_against_stored_neighbours(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    start = now - timedelta(hours=2)
    track = helpers.drive(start, 20)
    spike = helpers.point(start + timedelta(seconds=95), 20.43, -99.13)  # 111 km in 5 s
    # The first half, then the spike and the second half in another batch: the spike's
    # previous neighbour is a stored point.
    await mextrack.store(vehicle["id"], track[:10], owner.headers)
    counts = await mextrack.store(vehicle["id"], [spike, *track[10:]], owner.headers)
    # A spike at the very end, judged against the stored point before it.
    last = helpers.point(start + timedelta(seconds=200), 10.0, -99.13)
    end = await mextrack.store(vehicle["id"], [last], owner.headers)

    assert counts == {"received": 11, "new": 11, "duplicate": 0, "jump": 1, "latest_moved": True}
    assert end["jump"] == 1
    assert end["latest_moved"] is False
    jumps = await mextrack.rows(
        "SELECT recorded_at FROM positions WHERE quality = 'jump' ORDER BY 1"
    )
    assert [row[0] for row in jumps] == [
        datetime.fromisoformat(spike["recorded_at"]),
        datetime.fromisoformat(last["recorded_at"]),
    ]
    assert await mextrack.sql("SELECT count(*) FROM positions") == 22


async def test_a_genuine_gap_flags_nothing_once_the_next_fix_confirms_it(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    start = now - timedelta(hours=2)
    before = helpers.drive(start, 5)
    # A ferry: 50 km in a minute (far past 300 km/h), then driving on from there.
    after = helpers.drive(start + timedelta(seconds=100), 5, lat=19.88)

    counts = await mextrack.store(vehicle["id"], before + after, owner.headers)

    assert counts["jump"] == 0


async def test_an_inactive_vehicle_accepts_nothing(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    deactivated = await mextrack.client.post(
        f"/vehicles/{vehicle['id']}/deactivate", headers=owner.headers
    )
    assert deactivated.json()["status"] == "inactive"

    refused = await mextrack.post_points(vehicle["id"], helpers.drive(now, 3), owner.headers)
    await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}", json={"status": "active"}, headers=owner.headers
    )
    accepted = await mextrack.post_points(
        vehicle["id"], helpers.drive(now - timedelta(minutes=1), 3), owner.headers
    )

    assert refused.status_code == 409
    assert accepted.status_code == 200


@pytest.mark.pgbouncer
async def test_a_batch_for_a_day_without_a_partition_creates_it(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    old = now - timedelta(days=40)
    name = f"positions_p{old:%Y%m%d}"
    assert await mextrack.sql("SELECT to_regclass($1)::text", name) is None

    counts = await mextrack.store(vehicle["id"], helpers.drive(old, 5), owner.headers)
    spanning = helpers.drive(now - timedelta(days=40), 1) + helpers.drive(now, 1)
    too_wide = await mextrack.post_points(vehicle["id"], spanning, owner.headers)

    assert counts["new"] == 5
    assert await mextrack.sql("SELECT to_regclass($1)::text", name) == name
    assert (
        await mextrack.sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'positions'::regclass"
            " AND pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = inhrelid), inhrelid)"
            " = 'DEFAULT'"
        )
        == 0
    ), "no DEFAULT partition"
    assert too_wide.status_code == 422


@pytest.mark.pgbouncer
async def test_concurrent_batches_of_one_vehicle_store_each_point_once(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(hours=1), 300)

    answers = await asyncio.gather(
        *(
            mextrack.post_points(vehicle["id"], points[i : i + 200], owner.headers)
            for i in (0, 50, 100)
        )
    )

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sum(a.json()["new"] for a in answers) == 300
    assert mextrack.in_flight.peak >= 2, "the batches overlapped"
    assert await mextrack.sql("SELECT count(*) FROM positions") == 300


async def test_a_batch_queued_behind_the_vehicle_lock_sees_what_the_holder_stored(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """The batch reads the stored points after it gets the vehicle's lock (a new snapshot under
    READ COMMITTED), so points committed by the transaction it waited for are duplicates, not
    a unique violation in its COPY."""
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    points = helpers.drive(now - timedelta(hours=1), 20)
    holder = await asyncpg.connect(mextrack.settings.database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM vehicles WHERE id = $1 FOR NO KEY UPDATE", uuid.UUID(vehicle["id"])
        )
        batch = asyncio.create_task(mextrack.post_points(vehicle["id"], points, owner.headers))
        assert await lock_waiters(holder), "the batch waits for the vehicle's lock"
        await holder.execute(
            "INSERT INTO positions (vehicle_id, recorded_at, latitude, longitude, speed_kmh,"
            " heading) SELECT $1, t, 19.43, -99.13, 30, 90 FROM unnest($2::timestamptz[]) AS t",
            uuid.UUID(vehicle["id"]),
            [datetime.fromisoformat(p["recorded_at"]) for p in points[5:15]],
        )
        await transaction.commit()
        response = await batch
    finally:
        await holder.close()

    assert response.status_code == 200, response.text
    assert response.json()["new"] == 10
    assert response.json()["duplicate"] == 10
    assert await mextrack.sql("SELECT count(*) FROM positions") == 20
