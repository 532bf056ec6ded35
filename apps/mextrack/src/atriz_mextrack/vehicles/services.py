"""Vehicle rules: who owns what, valid plates and VINs, owners that exist."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import msgspec

from atriz_core.client.users import hold_users
from atriz_core.client.verifier import Principal
from atriz_core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_mextrack.access import sees_all
from atriz_mextrack.devices import repository as devices
from atriz_mextrack.vehicles import repository
from atriz_mextrack.vehicles.schemas import Vehicle, VehicleCreate, VehicleUpdate
from atriz_mextrack.vehicles.vin import vin_problem

__all__ = [
    "create_vehicle",
    "deactivate_vehicle",
    "delete_vehicle",
    "list_vehicles",
    "locked_visible_vehicle",
    "may_see",
    "update_vehicle",
    "visible_vehicle",
]

_SPACES = re.compile(r"\s+")


def _plate(plate: str) -> str:
    """Plates compare as written on the plate: capitals, single spaces, no padding."""
    normalised = _SPACES.sub(" ", plate).strip().upper()
    if not normalised:
        raise InvalidInputError.for_field("plate", "must not be blank")
    return normalised


def _name(name: str) -> str:
    stripped = name.strip()
    if not stripped:
        raise InvalidInputError.for_field("name", "must not be blank")
    return stripped


def _vin(vin: str | None) -> str | None:
    if vin is None:
        return None
    normalised = vin.strip().upper()
    problem = vin_problem(normalised)
    if problem is not None:
        raise InvalidInputError.for_field("vin", problem)
    return normalised


def _not_found(vehicle_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"no vehicle {vehicle_id}")


def may_see(principal: Principal, vehicle: Vehicle) -> bool:
    """The owner, a dispatcher and an admin see (and change) a vehicle; nobody else."""
    return vehicle.owner_id == principal.id or sees_all(principal)


async def visible_vehicle(
    conn: asyncpg.Connection | asyncpg.Pool, principal: Principal, vehicle_id: uuid.UUID
) -> Vehicle:
    """The vehicle, if `principal` may see it; 404 otherwise (another's looks like none).

    A read served by the replica asks this of the primary (`conn` its pool): a vehicle
    reassigned a moment ago must no longer be its previous owner's, however far behind the
    replica is."""
    vehicle = await repository.get_vehicle(conn, vehicle_id)
    if vehicle is None or not may_see(principal, vehicle):
        raise _not_found(vehicle_id)
    return vehicle


async def locked_visible_vehicle(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> Vehicle:
    """The vehicle, locked until the transaction ends, if `principal` may see it as it is once
    locked; 404 otherwise. Every change to a vehicle, its device token or its positions takes
    this lock first (a batch does too, `lock_vehicle`), so a change checks who may make it on
    the vehicle as the last committed change left it, and a batch never slips between a
    reassignment and the end of the previous owner's device token."""
    vehicle = await repository.lock_vehicle(conn, vehicle_id)
    if vehicle is None or not may_see(principal, vehicle):
        raise _not_found(vehicle_id)
    return vehicle


async def list_vehicles(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    principal: Principal,
    limit: int,
    cursor: str | None,
) -> Page[Vehicle]:
    """The caller's vehicles, or every vehicle for a dispatcher or an admin."""
    after = cursors.position(cursor, repository.BY_CREATION)
    owner = None if sees_all(principal) else principal.id
    rows = await repository.list_vehicles(conn, owner, after, limit + 1)
    return cursors.page(rows, limit, repository.BY_CREATION, lambda v: (v.created_at, v.id))


async def create_vehicle(
    conn: asyncpg.Connection,
    shared: asyncpg.Connection,
    principal: Principal,
    data: VehicleCreate,
) -> Vehicle:
    """A new vehicle of the caller's or, for a dispatcher or an admin, of an active user."""
    owner = data.owner_id or principal.id
    if owner != principal.id and not sees_all(principal):
        raise ForbiddenError("only a dispatcher or an admin registers another user's vehicle")
    name, plate, vin = _name(data.name), _plate(data.plate), _vin(data.vin)
    await hold_users(conn, shared, [owner], field="owner_id")
    return await repository.insert_vehicle(conn, owner, name, plate, vin)


async def update_vehicle(
    conn: asyncpg.Connection,
    shared: asyncpg.Connection,
    principal: Principal,
    vehicle_id: uuid.UUID,
    data: VehicleUpdate,
) -> Vehicle:
    """Change what `data` names; reassigning is for a dispatcher or an admin, and ends the
    vehicle's device token: the tracker was the previous owner's, who no longer sees the
    vehicle and must not go on writing its new owner's track."""
    changes: dict[str, Any] = {
        name: value
        for name in repository.UPDATABLE
        if (value := getattr(data, name)) is not msgspec.UNSET
    }
    if "owner_id" in changes and sees_all(principal):
        # Before the vehicle's row: the consumer holds a user before it changes their vehicles.
        await hold_users(conn, shared, [changes["owner_id"]], field="owner_id")
    vehicle = await locked_visible_vehicle(conn, principal, vehicle_id)
    if "name" in changes:
        changes["name"] = _name(changes["name"])
    if "plate" in changes:
        changes["plate"] = _plate(changes["plate"])
    if "vin" in changes:
        changes["vin"] = _vin(changes["vin"])
    if "owner_id" in changes and not sees_all(principal):
        raise ForbiddenError("only a dispatcher or an admin reassigns a vehicle")
    owner = changes.get("owner_id", vehicle.owner_id)
    if changes.get("status") == "active" and owner is None:
        raise ConflictError(
            f"vehicle {vehicle_id} has no owner (deleted): reassign it before activating it"
        )
    if not changes:
        return vehicle
    updated = await repository.update_vehicle(conn, vehicle_id, changes)
    if updated is None:
        raise _not_found(vehicle_id)
    if updated.owner_id != vehicle.owner_id:
        await devices.revoke_tokens(conn, vehicle_id)
    return updated


async def deactivate_vehicle(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> Vehicle:
    """The vehicle, inactive: it accepts no positions until activated again."""
    await locked_visible_vehicle(conn, principal, vehicle_id)
    updated = await repository.update_vehicle(conn, vehicle_id, {"status": "inactive"})
    if updated is None:
        raise _not_found(vehicle_id)
    return updated


async def delete_vehicle(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> None:
    """The vehicle gone, with its positions, latest position and device tokens. Once it holds
    the vehicle, so that a batch storing meanwhile commits first and its positions go too."""
    await locked_visible_vehicle(conn, principal, vehicle_id)
    if not await repository.delete_vehicle(conn, vehicle_id):
        raise _not_found(vehicle_id)
