"""Vehicles: each user sees their own, dispatchers all; owners must be active users."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_core.testing import UserFactory

Mextrack = Any
DISPATCHER = "mextrack.dispatcher"


async def test_a_vehicle_is_created_read_updated_and_deleted(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    owner = await make_user()
    created = await mextrack.client.post(
        "/vehicles",
        json={"name": " Van ", "plate": "abc  123", "vin": "1m8gdm9axkp042788"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    vehicle = created.json()
    path = f"/vehicles/{vehicle['id']}"

    read = await mextrack.client.get(path, headers=owner.headers)
    renamed = await mextrack.client.patch(
        path, json={"name": "Truck", "vin": None}, headers=owner.headers
    )
    deleted = await mextrack.client.delete(path, headers=owner.headers)
    gone = await mextrack.client.get(path, headers=owner.headers)

    assert vehicle["name"] == "Van"
    assert vehicle["plate"] == "ABC 123"
    assert vehicle["vin"] == "1M8GDM9AXKP042788"
    assert vehicle["owner_id"] == str(owner.id)
    assert vehicle["status"] == "active"
    assert read.json() == vehicle
    assert renamed.json()["name"] == "Truck"
    assert renamed.json()["vin"] is None
    assert renamed.json()["plate"] == "ABC 123"
    assert deleted.status_code == 204
    assert gone.status_code == 404


async def test_bad_vehicles_are_refused_naming_the_field(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    owner = await make_user()
    await mextrack.vehicle(owner, plate="DUP-1")
    cases = [
        ("vin", 422, {"name": "a", "plate": "P-1", "vin": "1M8GDM9A1KP042788"}),
        ("vin", 422, {"name": "a", "plate": "P-2", "vin": "1M8GDM9AXKP04278O"}),
        ("plate", 409, {"name": "a", "plate": "dup-1"}),
        ("name", 422, {"name": "   ", "plate": "P-3"}),
        # PostgreSQL text holds no NUL: refused as the body is read, naming the field.
        ("name", 400, {"name": "nul \x00 inside", "plate": "P-5"}),
        ("plate", 400, {"name": "a", "plate": "P-\x00"}),
        ("name", 400, {"name": "two\nlines", "plate": "P-6"}),
    ]
    for field, status, body in cases:
        response = await mextrack.client.post("/vehicles", json=body, headers=owner.headers)
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["field"] == field
    short = await mextrack.client.post(
        "/vehicles", json={"name": "a", "plate": "P-4", "vin": "123"}, headers=owner.headers
    )
    assert short.status_code == 422
    assert await mextrack.sql("SELECT count(*) FROM vehicles") == 1


async def test_an_unknown_or_inactive_owner_is_a_422_naming_owner_id(
    mextrack: Mextrack, make_user: UserFactory, core_database_url: str
) -> None:
    dispatcher = await make_user(roles=(DISPATCHER,))
    inactive = await make_user()
    connection = await asyncpg.connect(core_database_url)
    await connection.execute("UPDATE users SET is_active = false WHERE id = $1", inactive.id)
    await connection.close()

    for owner in (uuid.uuid4(), inactive.id):
        response = await mextrack.client.post(
            "/vehicles",
            json={"name": "a", "plate": f"P-{owner}"[:20], "owner_id": str(owner)},
            headers=dispatcher.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "owner_id"
    vehicle = await mextrack.vehicle(dispatcher)
    reassigned = await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}",
        json={"owner_id": str(uuid.uuid4())},
        headers=dispatcher.headers,
    )
    assert reassigned.status_code == 422
    assert reassigned.json()["errors"][0]["field"] == "owner_id"


async def test_users_see_only_their_own_vehicles_and_dispatchers_all(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    anas = [await mextrack.vehicle(ana) for _ in range(3)]
    bens = await mextrack.vehicle(ben)

    first = (await mextrack.client.get("/vehicles?limit=2", headers=ana.headers)).json()
    second = (
        await mextrack.client.get(
            "/vehicles", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ana.headers
        )
    ).json()
    everyone = (await mextrack.client.get("/vehicles", headers=dispatcher.headers)).json()
    others = await mextrack.client.get(f"/vehicles/{bens['id']}", headers=ana.headers)
    changed = await mextrack.client.patch(
        f"/vehicles/{bens['id']}", json={"name": "mine"}, headers=ana.headers
    )
    removed = await mextrack.client.delete(f"/vehicles/{bens['id']}", headers=ana.headers)
    dispatched = await mextrack.client.get(f"/vehicles/{bens['id']}", headers=dispatcher.headers)

    assert [v["id"] for v in first["items"] + second["items"]] == [v["id"] for v in anas]
    assert second["next_cursor"] is None
    assert {v["id"] for v in everyone["items"]} == {v["id"] for v in [*anas, bens]}
    assert others.status_code == 404
    assert changed.status_code == 404
    assert removed.status_code == 404
    assert dispatched.status_code == 200


async def test_only_a_dispatcher_registers_or_reassigns_another_users_vehicle(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    vehicle = await mextrack.vehicle(ana)

    for_ben = await mextrack.client.post(
        "/vehicles",
        json={"name": "a", "plate": "X-1", "owner_id": str(ben.id)},
        headers=ana.headers,
    )
    given_away = await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}", json={"owner_id": str(ben.id)}, headers=ana.headers
    )
    reassigned = await mextrack.client.patch(
        f"/vehicles/{vehicle['id']}", json={"owner_id": str(ben.id)}, headers=dispatcher.headers
    )
    registered = await mextrack.client.post(
        "/vehicles",
        json={"name": "a", "plate": "X-2", "owner_id": str(ben.id)},
        headers=dispatcher.headers,
    )

    assert for_ben.status_code == 403
    assert given_away.status_code == 403
    assert reassigned.json()["owner_id"] == str(ben.id)
    assert registered.json()["owner_id"] == str(ben.id)
    assert (
        await mextrack.client.get(f"/vehicles/{vehicle['id']}", headers=ana.headers)
    ).status_code == 404
