"""Changes to a vehicle racing its batches, through real concurrent requests: every change and
every batch takes the vehicle's lock first, so a reassignment ends the previous owner's tracker
for the batches queued behind it too, a device token cannot be issued to an owner a
reassignment is replacing, and a deletion takes the positions of a batch that held the vehicle
before it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from atriz_core.testing import UserFactory, beside, lock_waiters

Mextrack = Any
DISPATCHER = "mextrack.dispatcher"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_batch_queued_behind_a_reassignment_is_refused_with_the_old_token(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """The old owner's tracker passes the guard just before the reassignment commits; its batch
    waits for the vehicle behind the reassignment, then finds its token ended: 401, nothing
    written into the new owner's track."""
    old_owner, new_owner = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    vehicle_id = (await mextrack.vehicle(old_owner))["id"]
    issued = await mextrack.client.post(
        f"/vehicles/{vehicle_id}/device-token", headers=old_owner.headers
    )
    token = issued.json()["token"]
    holder = await beside(mextrack.settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM vehicles WHERE id = $1 FOR UPDATE", vehicle_id)
            reassigning = asyncio.create_task(
                mextrack.client.patch(
                    f"/vehicles/{vehicle_id}",
                    json={"owner_id": str(new_owner.id)},
                    headers=dispatcher.headers,
                )
            )
            assert await lock_waiters(holder) >= 1
            posting = asyncio.create_task(
                mextrack.post_points(
                    vehicle_id, helpers.drive(now - timedelta(minutes=1), 3), bearer(token)
                )
            )
            assert await lock_waiters(holder, at_least=2) >= 2
        reassigned, posted = await asyncio.gather(reassigning, posting)
    finally:
        await holder.close()

    assert reassigned.status_code == 200, reassigned.text
    assert posted.status_code == 401, posted.text
    assert "device token" in posted.json()["detail"]
    assert posted.headers["www-authenticate"] == 'Bearer error="invalid_token"', "as the guard's"
    assert (
        await mextrack.sql("SELECT count(*) FROM positions WHERE vehicle_id = $1", vehicle_id) == 0
    )
    assert mextrack.in_flight.peak >= 2


async def test_a_token_issued_beside_a_reassignment_is_ended_by_it(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """The old owner asks for a device token while a dispatcher reassigns the vehicle: the
    reassignment waits for the issue and then ends the token (or the issue comes second and
    finds the vehicle someone else's); the old owner never keeps a working token."""
    old_owner, new_owner = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    vehicle_id = (await mextrack.vehicle(old_owner))["id"]
    holder = await beside(mextrack.settings.database_url)
    try:
        held = holder.transaction()
        await held.start()
        # Another token being written for the vehicle: the issue waits on it, in flight.
        await holder.execute(
            "INSERT INTO device_tokens (vehicle_id, token_hash) VALUES ($1, 'x')", vehicle_id
        )
        issuing = asyncio.create_task(
            mextrack.client.post(f"/vehicles/{vehicle_id}/device-token", headers=old_owner.headers)
        )
        assert await lock_waiters(holder) >= 1
        reassigning = asyncio.create_task(
            mextrack.client.patch(
                f"/vehicles/{vehicle_id}",
                json={"owner_id": str(new_owner.id)},
                headers=dispatcher.headers,
            )
        )
        assert await lock_waiters(holder, at_least=2) >= 2
        await held.rollback()
        issued, reassigned = await asyncio.gather(issuing, reassigning)
    finally:
        await holder.close()

    assert reassigned.status_code == 200, reassigned.text
    if issued.status_code == 201:
        posted = await mextrack.post_points(
            vehicle_id, helpers.drive(now - timedelta(minutes=1), 3), bearer(issued.json()["token"])
        )
        assert posted.status_code == 401, posted.text
    else:
        assert issued.status_code == 404, issued.text
    assert not await mextrack.sql(
        "SELECT count(*) FROM device_tokens WHERE vehicle_id = $1 AND revoked_at IS NULL",
        vehicle_id,
    )


async def test_a_deletion_queued_behind_a_batch_takes_its_positions(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle_id = (await mextrack.vehicle(owner))["id"]
    holder = await beside(mextrack.settings.database_url)
    try:
        held = holder.transaction()
        await held.start()
        # Holds the vehicle's latest position: the batch waits there, after its COPY, while
        # it holds the vehicle.
        await holder.execute(
            "INSERT INTO latest_positions (vehicle_id, recorded_at, latitude, longitude,"
            " speed_kmh, heading, received_at)"
            " VALUES ($1, now() - interval '1 day', 0, 0, 0, 0, now())",
            vehicle_id,
        )
        posting = asyncio.create_task(
            mextrack.post_points(
                vehicle_id, helpers.drive(now - timedelta(minutes=1), 5), owner.headers
            )
        )
        assert await lock_waiters(holder) >= 1
        deleting = asyncio.create_task(
            mextrack.client.delete(f"/vehicles/{vehicle_id}", headers=owner.headers)
        )
        assert await lock_waiters(holder, at_least=2) >= 2
        await held.rollback()
        posted, deleted = await asyncio.gather(posting, deleting)
    finally:
        await holder.close()

    assert posted.status_code == 200, posted.text
    assert deleted.status_code == 204, deleted.text
    assert not await mextrack.sql("SELECT count(*) FROM vehicles WHERE id = $1", vehicle_id)
    assert not await mextrack.sql(
        "SELECT count(*) FROM positions WHERE vehicle_id = $1", vehicle_id
    )
