"""Device token routes: HTTP only."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, post
from litestar.params import FromPath

from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_mextrack.devices import services
from atriz_mextrack.devices.schemas import DeviceToken

__all__ = ["DeviceTokenController"]


class DeviceTokenController(Controller):
    path = "/vehicles/{vehicle_id:uuid}/device-token"
    tags = ["device tokens"]

    @post("/", responses=problem_responses(404, 409))
    async def issue_device_token(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> DeviceToken:
        """Issue the vehicle's device token (owner, dispatcher or admin): shown this once,
        stored only as its SHA-256. A tracker sends it as a bearer token to post positions for
        this vehicle and no other. 409 if the vehicle has one already (rotate it)."""
        return await services.issue_token(conn, request.user, vehicle_id)

    @post("/rotate", responses=problem_responses(404))
    async def rotate_device_token(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> DeviceToken:
        """Replace the vehicle's device token: the new one is shown this once, the previous
        one stops working at once."""
        return await services.rotate_token(conn, request.user, vehicle_id)

    @delete("/", responses=problem_responses(404))
    async def revoke_device_token(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> None:
        """Revoke the vehicle's device token (404 if it has none)."""
        await services.revoke_token(conn, request.user, vehicle_id)
