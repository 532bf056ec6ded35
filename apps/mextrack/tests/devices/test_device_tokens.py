"""Device tokens: shown once, stored hashed, good for one vehicle, dead once rotated or revoked."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from atriz_core.testing import UserFactory

Mextrack = Any


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_device_token_posts_for_its_vehicle_only_and_is_stored_hashed(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    mine, other = await mextrack.vehicle(owner), await mextrack.vehicle(owner)
    issued = await mextrack.client.post(
        f"/vehicles/{mine['id']}/device-token", headers=owner.headers
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]

    stored = await mextrack.rows("SELECT token_hash FROM device_tokens")
    accepted = await mextrack.post_points(mine["id"], helpers.drive(now, 3), bearer(token))
    elsewhere = await mextrack.post_points(other["id"], helpers.drive(now, 3), bearer(token))
    reading = await mextrack.client.get(f"/vehicles/{mine['id']}", headers=bearer(token))
    again = await mextrack.client.post(
        f"/vehicles/{mine['id']}/device-token", headers=owner.headers
    )

    assert token.startswith("mxd_")
    assert len(token) >= 40
    assert [row[0] for row in stored] == [hashlib.sha256(token.encode()).digest()]
    assert accepted.status_code == 200
    assert elsewhere.status_code == 401
    assert reading.status_code == 401, "a device token is not a user's sign-in"
    assert again.status_code == 409
    assert (
        token
        not in (await mextrack.client.get(f"/vehicles/{mine['id']}", headers=owner.headers)).text
    )


async def test_a_rotated_or_revoked_token_is_dead(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    base = f"/vehicles/{vehicle['id']}/device-token"
    first = (await mextrack.client.post(base, headers=owner.headers)).json()["token"]

    rotated = await mextrack.client.post(f"{base}/rotate", headers=owner.headers)
    second = rotated.json()["token"]
    with_first = await mextrack.post_points(vehicle["id"], helpers.drive(now, 2), bearer(first))
    with_second = await mextrack.post_points(
        vehicle["id"], helpers.drive(now - timedelta(minutes=1), 2), bearer(second)
    )
    revoked = await mextrack.client.delete(base, headers=owner.headers)
    after_revoke = await mextrack.post_points(
        vehicle["id"], helpers.drive(now - timedelta(minutes=2), 2), bearer(second)
    )
    revoked_again = await mextrack.client.delete(base, headers=owner.headers)

    assert rotated.status_code == 201
    assert second != first
    assert with_first.status_code == 401
    assert with_second.status_code == 200
    assert revoked.status_code == 204
    assert after_revoke.status_code == 401
    assert revoked_again.status_code == 404


async def test_only_the_owner_or_a_dispatcher_manages_the_token(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    owner, stranger = await make_user(), await make_user()
    dispatcher = await make_user(roles=("mextrack.dispatcher",))
    vehicle = await mextrack.vehicle(owner)
    base = f"/vehicles/{vehicle['id']}/device-token"

    by_stranger = await mextrack.client.post(base, headers=stranger.headers)
    by_dispatcher = await mextrack.client.post(base, headers=dispatcher.headers)
    rotate_by_stranger = await mextrack.client.post(f"{base}/rotate", headers=stranger.headers)

    assert by_stranger.status_code == 404
    assert by_dispatcher.status_code == 201
    assert rotate_by_stranger.status_code == 404


async def test_reassigning_a_vehicle_ends_its_device_token(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """The tracker was the previous owner's: once the vehicle is someone else's, its token no
    longer writes the new owner's track (the previous owner no longer even sees the vehicle)."""
    old, new = await make_user(), await make_user()
    dispatcher = await make_user(roles=("mextrack.dispatcher",))
    vehicle = await mextrack.vehicle(old)
    base = f"/vehicles/{vehicle['id']}/device-token"
    token = (await mextrack.client.post(base, headers=old.headers)).json()["token"]
    renamed = await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}", json={"name": "Van 2"}, headers=old.headers
    )
    assert renamed.status_code == 200, renamed.text
    still = await mextrack.post_points(vehicle["id"], helpers.drive(now, 2), bearer(token))
    assert still.status_code == 200, "a change that keeps the owner keeps the token"

    moved = await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}", json={"owner_id": str(new.id)}, headers=dispatcher.headers
    )

    assert moved.status_code == 200, moved.text
    refused = await mextrack.post_points(
        vehicle["id"], helpers.drive(now + timedelta(minutes=1), 2), bearer(token)
    )
    assert refused.status_code == 401
    issued = await mextrack.client.post(base, headers=new.headers)
    assert issued.status_code == 201, "the new owner issues a token of their own"
