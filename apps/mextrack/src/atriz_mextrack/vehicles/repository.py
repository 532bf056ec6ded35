"""Vehicle statements, one function each."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_mextrack.vehicles.schemas import Vehicle

__all__ = [
    "BY_CREATION",
    "UPDATABLE",
    "delete_vehicle",
    "get_vehicle",
    "insert_vehicle",
    "list_vehicles",
    "lock_vehicle",
    "still_owned",
    "update_vehicle",
]

BY_CREATION = Keyset("mextrack.vehicles.by_creation", ("created_at", "id"))
COLUMNS = "id, owner_id, name, plate, vin, status, owner_suspended_at, created_at, updated_at"
UPDATABLE = ("name", "plate", "vin", "status", "owner_id")
"""The columns `update_vehicle` may set: the only names that reach its SQL."""

_INSERT = f"""
INSERT INTO vehicles (owner_id, name, plate, vin) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}
"""
_GET = f"SELECT {COLUMNS} FROM vehicles WHERE id = $1"
_STILL_OWNED = "SELECT id FROM vehicles WHERE id = ANY($1::uuid[]) AND owner_id = $2"
_LIST_ALL = f"SELECT {COLUMNS} FROM vehicles {{where}} ORDER BY {BY_CREATION.order_by()} LIMIT $1"
_LIST_OWN = (
    f"SELECT {COLUMNS} FROM vehicles WHERE owner_id = $2 {{where}}"
    f" ORDER BY {BY_CREATION.order_by()} LIMIT $1"
)
_QUERIES = {
    (False, False): _LIST_ALL.format(where=""),
    (False, True): _LIST_ALL.format(where=f"WHERE {BY_CREATION.after(2)}"),
    (True, False): _LIST_OWN.format(where=""),
    (True, True): _LIST_OWN.format(where=f"AND {BY_CREATION.after(3)}"),
}
# The positions go first: they have no foreign key (see the migration); tokens and the latest
# position go with the vehicle (ON DELETE CASCADE). Two statements, after the caller locked the
# vehicle: the positions' DELETE takes its snapshot then, so it sees the points of a batch that
# held the vehicle before (one statement's snapshot, taken before it waited, missed them).
_DELETE_POSITIONS = "DELETE FROM positions WHERE vehicle_id = $1"
_DELETE = "DELETE FROM vehicles WHERE id = $1 RETURNING id"
# One batch of a vehicle at a time (a deletion or a change of status waits for it too): the
# batch's insert skips the points already stored by reading them, which is only sound if no
# other batch of the vehicle commits meanwhile. ON CONFLICT DO NOTHING would guard it as well,
# but costs an insert twice as much (speculative insertion); trackers send one batch at a time.
_LOCK = f"{_GET} FOR NO KEY UPDATE"


def _vehicle(row: asyncpg.Record) -> Vehicle:
    return Vehicle(**dict(row))


async def insert_vehicle(
    conn: asyncpg.Connection, owner_id: uuid.UUID, name: str, plate: str, vin: str | None
) -> Vehicle:
    return _vehicle(await conn.fetchrow(_INSERT, owner_id, name, plate, vin))


async def get_vehicle(
    conn: asyncpg.Connection | asyncpg.Pool, vehicle_id: uuid.UUID
) -> Vehicle | None:
    row = await conn.fetchrow(_GET, vehicle_id)
    return None if row is None else _vehicle(row)


async def still_owned(
    conn: asyncpg.Connection | asyncpg.Pool, vehicle_ids: list[uuid.UUID], owner_id: uuid.UUID
) -> set[uuid.UUID]:
    """Those of `vehicle_ids` that `owner_id` owns (by primary key: as many as asked)."""
    return {row[0] for row in await conn.fetch(_STILL_OWNED, vehicle_ids, owner_id)}


async def lock_vehicle(conn: asyncpg.Connection, vehicle_id: uuid.UUID) -> Vehicle | None:
    row = await conn.fetchrow(_LOCK, vehicle_id)
    return None if row is None else _vehicle(row)


async def list_vehicles(
    conn: asyncpg.Connection,
    owner_id: uuid.UUID | None,
    after: tuple[Any, ...] | None,
    fetch: int,
) -> list[Vehicle]:
    """Vehicles in creation order: `owner_id`'s, or all when it is None."""
    query = _QUERIES[(owner_id is not None, after is not None)]
    args: list[Any] = [fetch]
    if owner_id is not None:
        args.append(owner_id)
    if after is not None:
        args.extend(after)
    return [_vehicle(row) for row in await conn.fetch(query, *args)]


async def update_vehicle(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, changes: dict[str, Any]
) -> Vehicle | None:
    """Set `changes` (columns of `UPDATABLE` only); a new owner is no longer suspended."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    names = list(changes)
    assignments = [f"{name} = ${i}" for i, name in enumerate(names, start=2)]
    if "owner_id" in changes:
        assignments.append("owner_suspended_at = NULL")
    query = (
        f"UPDATE vehicles SET {', '.join(assignments)}, updated_at = now()"
        f" WHERE id = $1 RETURNING {COLUMNS}"
    )
    row = await conn.fetchrow(query, vehicle_id, *(changes[name] for name in names))
    return None if row is None else _vehicle(row)


async def delete_vehicle(conn: asyncpg.Connection, vehicle_id: uuid.UUID) -> bool:
    """Delete the vehicle and its positions; call it holding the vehicle (`lock_vehicle`)."""
    await conn.execute(_DELETE_POSITIONS, vehicle_id)
    return await conn.fetchval(_DELETE, vehicle_id) is not None
