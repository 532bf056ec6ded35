"""Vehicle routes: HTTP only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection, SharedDb
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    schema_name,
)
from atriz_mextrack.vehicles import services
from atriz_mextrack.vehicles.schemas import Vehicle, VehicleCreate, VehicleUpdate

__all__ = ["VehicleController", "VehiclePage"]

VehiclePage = Annotated[Page[Vehicle], schema_name("VehiclePage")]


class VehicleController(Controller):
    path = "/vehicles"
    tags = ["vehicles"]

    @post("/", responses=problem_responses(403, 409, 422))
    async def create_vehicle(
        self,
        data: JSONBody[VehicleCreate],
        conn: DbConnection,
        shared_conn: SharedDb,
        request: Request[Principal, Any, Any],
    ) -> Vehicle:
        """Register a vehicle: the caller's, or (dispatcher, admin) another active user's.

        The plate is unique (409); an owner who is not an active user is a 422 naming
        `owner_id`; a VIN must have 17 characters, no I, O or Q, and a valid check digit."""
        return await services.create_vehicle(conn, shared_conn, request.user, data)

    @get("/")
    async def list_vehicles(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> VehiclePage:
        """The caller's vehicles, oldest first; every vehicle for a dispatcher or an admin."""
        return await services.list_vehicles(conn, cursors_of(request), request.user, limit, cursor)

    @get("/{vehicle_id:uuid}", responses=problem_responses(404))
    async def get_vehicle(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> Vehicle:
        """One vehicle: the owner's, or any for a dispatcher or an admin (404 otherwise)."""
        return await services.visible_vehicle(conn, request.user, vehicle_id)

    @patch("/{vehicle_id:uuid}", responses=problem_responses(403, 404, 409, 422))
    async def update_vehicle(
        self,
        vehicle_id: FromPath[uuid.UUID],
        data: JSONBody[VehicleUpdate],
        conn: DbConnection,
        shared_conn: SharedDb,
        request: Request[Principal, Any, Any],
    ) -> Vehicle:
        """Change a vehicle's name, plate, VIN or status; a dispatcher or an admin may also
        reassign it to another active user (`owner_id`). A vehicle without an owner (its owner
        was deleted) is activated only after it is reassigned (409)."""
        return await services.update_vehicle(conn, shared_conn, request.user, vehicle_id, data)

    @post("/{vehicle_id:uuid}/deactivate", status_code=200, responses=problem_responses(404))
    async def deactivate_vehicle(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> Vehicle:
        """Make a vehicle inactive: it accepts no positions (409) until it is activated again
        (`PATCH` with `status: active`). Its history stays."""
        return await services.deactivate_vehicle(conn, request.user, vehicle_id)

    @delete("/{vehicle_id:uuid}", responses=problem_responses(404))
    async def delete_vehicle(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> None:
        """Delete a vehicle with its whole history, latest position and device tokens."""
        await services.delete_vehicle(conn, request.user, vehicle_id)
