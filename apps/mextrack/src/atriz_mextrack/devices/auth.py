"""Sign-in for the positions route: a user's access token, or the vehicle's device token.

A device token is not a JWT, so the route is public to the kit's `AtrizAuth` middleware and
this guard signs the request in instead: a bearer value with the device-token prefix must be
the live token of the vehicle in the path (compared by digest, in constant time), anything else
goes through the kit's token check (`authenticate`: 401 for a missing, forged, expired or
wrong-audience token). Guards run before the body is read, so a request without valid
credentials is a 401 whatever its body.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from atriz_core.client.litestar import authenticate
from atriz_mextrack.devices import repository
from atriz_mextrack.devices.services import (
    DEVICE_TOKEN_CHALLENGE,
    INVALID_DEVICE_TOKEN,
    Tracker,
    digest_of,
    is_device_token,
    token_matches,
)

__all__ = ["TRACKER_STATE_KEY", "requires_tracker_or_user", "signed_in_tracker"]

TRACKER_STATE_KEY = "mextrack_tracker"


async def requires_tracker_or_user(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: a valid access token, or the live device token of the vehicle in the path."""
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and is_device_token(token):
        vehicle_id: uuid.UUID = connection.path_params["vehicle_id"]
        digest = digest_of(token)
        stored = await repository.live_token_hash(connection.app.state.db_pool, vehicle_id)
        if not token_matches(digest, stored):
            raise NotAuthorizedException(
                detail=INVALID_DEVICE_TOKEN, headers={"WWW-Authenticate": DEVICE_TOKEN_CHALLENGE}
            )
        connection.state[TRACKER_STATE_KEY] = Tracker(vehicle_id, digest)
        return
    await authenticate(connection)


def signed_in_tracker(connection: ASGIConnection[Any, Any, Any, Any]) -> Tracker | None:
    """The tracker whose device token signed the request in; None for a user's token."""
    tracker: Tracker | None = connection.state.get(TRACKER_STATE_KEY)
    return tracker
