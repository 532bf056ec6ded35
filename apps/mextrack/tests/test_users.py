"""The user-event policy: deleted owners' vehicles are orphaned and stopped, deactivated ones'
paused until reactivation; each event applied once, across a restart too."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from httpx import ASGITransport, AsyncClient

from atriz_core.kit.events import CONSUMERS_STATE_KEY
from atriz_core.settings import CoreSettings
from atriz_core.testing import TokenMinter, UserFactory, beside, eventually, running_core, serving
from atriz_mextrack.app import create_app
from atriz_mextrack.settings import MextrackSettings

Mextrack = Any


until = functools.partial(
    eventually, seconds=60.0
)  # events wait for every older transaction on the server


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_deleted_owner_leaves_the_history_and_stops_the_vehicle_once(
    mextrack_settings: MextrackSettings,
    token_minter: TokenMinter,
    make_user: UserFactory,
    core_settings: CoreSettings,
    helpers: Any,
    now: datetime,
) -> None:
    app = create_app(mextrack_settings, verifier=token_minter.verifier("mextrack"))
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="http://mextrack.test") as client,
        running_core(core_settings) as core,
    ):
        owner, heir = await make_user(), await make_user()
        dispatcher = await make_user(roles=("mextrack.dispatcher",))
        created = await client.post(
            "/vehicles", json={"name": "Van", "plate": "DEL-1"}, headers=owner.headers
        )
        vehicle = created.json()
        token = (
            await client.post(f"/vehicles/{vehicle['id']}/device-token", headers=owner.headers)
        ).json()["token"]
        points = helpers.drive(now - timedelta(hours=1), 20)
        stored = await client.post(
            f"/vehicles/{vehicle['id']}/positions", json=points, headers=bearer(token)
        )
        assert stored.status_code == 200

        admin = await core.admin_headers()
        assert (
            await core.client.delete(f"/admin/users/{owner.id}", headers=admin)
        ).status_code == 204
        consumer = app.state[CONSUMERS_STATE_KEY]["mextrack"]
        await until(lambda: consumer.applied >= 1)

        after = (await client.get(f"/vehicles/{vehicle['id']}", headers=dispatcher.headers)).json()
        tracker = await client.post(
            f"/vehicles/{vehicle['id']}/positions",
            json=helpers.drive(now, 2),
            headers=bearer(token),
        )
        history = await client.get(
            f"/vehicles/{vehicle['id']}/positions", headers=dispatcher.headers
        )
        latest = await client.get("/positions/latest", headers=dispatcher.headers)
        activate_orphan = await client.patch(
            f"/vehicles/{vehicle['id']}", json={"status": "active"}, headers=dispatcher.headers
        )
        # An admin's or a dispatcher's way back: reassign, then activate.
        reassigned = await client.patch(
            f"/vehicles/{vehicle['id']}",
            json={"owner_id": str(heir.id), "status": "active"},
            headers=dispatcher.headers,
        )
        cursor = await mextrack_sql(mextrack_settings, "SELECT event_id FROM user_event_cursor")

    assert after["status"] == "inactive"
    assert after["owner_id"] is None
    assert tracker.status_code == 401, "the device token was revoked"
    assert len(history.json()["items"]) == 20, "the history is kept"
    assert [p["vehicle_id"] for p in latest.json()["items"]] == [vehicle["id"]]
    assert activate_orphan.status_code == 409
    assert reassigned.json()["owner_id"] == str(heir.id)
    assert reassigned.json()["status"] == "active"

    # A restart: the new process starts from the stored cursor and applies nothing again
    # (were the deletion applied again, it would find no vehicle of the deleted owner anyway;
    # the cursor and the consumer's counter show it is not even read again).
    again = create_app(mextrack_settings, verifier=token_minter.verifier("mextrack"))
    async with serving(again):
        restarted = again.state[CONSUMERS_STATE_KEY]["mextrack"]
        await asyncio.sleep(2.5)  # more than a poll interval
        assert restarted.applied == 0
    assert await mextrack_sql(mextrack_settings, "SELECT event_id FROM user_event_cursor") == cursor
    assert (
        await mextrack_sql(
            mextrack_settings, "SELECT owner_id FROM vehicles WHERE id = $1::uuid", vehicle["id"]
        )
        == heir.id
    )


async def test_a_deactivated_owners_vehicles_refuse_positions_until_reactivation(
    mextrack: Mextrack,
    make_user: UserFactory,
    core_settings: CoreSettings,
    helpers: Any,
    now: datetime,
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    token = (
        await mextrack.client.post(f"/vehicles/{vehicle['id']}/device-token", headers=owner.headers)
    ).json()["token"]

    async def suspended() -> bool:
        value = await mextrack.sql(
            "SELECT owner_suspended_at IS NOT NULL FROM vehicles WHERE id = $1::uuid", vehicle["id"]
        )
        return bool(value)

    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        await core.client.post(f"/admin/users/{owner.id}/deactivate", headers=admin)
        await until(suspended)
        paused = await mextrack.post_points(vehicle["id"], helpers.drive(now, 2), bearer(token))
        await core.client.post(f"/admin/users/{owner.id}/reactivate", headers=admin)
        await until(lambda: _not(suspended))
        resumed = await mextrack.post_points(
            vehicle["id"], helpers.drive(now - timedelta(minutes=1), 2), bearer(token)
        )

    assert paused.status_code == 409
    assert "deactivated" in paused.json()["detail"]
    assert resumed.status_code == 200
    assert await mextrack.sql("SELECT status FROM vehicles") == "active"


async def _not(condition: Callable[[], Awaitable[bool]]) -> bool:
    return not await condition()


async def mextrack_sql(settings: MextrackSettings, sql: str, *args: Any) -> Any:

    connection = await beside(settings.database_url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()
