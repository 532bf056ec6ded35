"""Device tokens: a tracker's credential for one vehicle, random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import asyncpg

from atriz_core.client.verifier import Principal
from atriz_core.errors import ConflictError, NotFoundError
from atriz_mextrack.devices import repository
from atriz_mextrack.devices.schemas import DeviceToken
from atriz_mextrack.vehicles.services import visible_vehicle

__all__ = [
    "TOKEN_PREFIX",
    "is_device_token",
    "issue_token",
    "revoke_token",
    "rotate_token",
    "token_matches",
]

TOKEN_PREFIX = "mxd_"  # noqa: S105 - a prefix, not a secret
"""Device tokens start with it: told apart from access tokens (JWTs) at a glance, and easy for
secret scanners to find."""
_NO_TOKEN = hashlib.sha256(b"no device token").digest()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def is_device_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def token_matches(presented: str, stored: bytes | None) -> bool:
    """Whether `presented` is the token whose digest is `stored`, compared in constant time."""
    return hmac.compare_digest(_digest(presented), stored or _NO_TOKEN) and stored is not None


async def _new_token(conn: asyncpg.Connection, vehicle_id: uuid.UUID) -> DeviceToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created_at = await repository.insert_token(conn, vehicle_id, _digest(token))
    return DeviceToken(vehicle_id=vehicle_id, token=token, created_at=created_at)


async def issue_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> DeviceToken:
    """A first device token for the vehicle (409 if it has a live one: rotate it instead)."""
    await visible_vehicle(conn, principal, vehicle_id)
    if await repository.live_token_hash(conn, vehicle_id) is not None:
        raise ConflictError(f"vehicle {vehicle_id} has a device token: rotate or revoke it")
    return await _new_token(conn, vehicle_id)


async def rotate_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> DeviceToken:
    """A new device token; the previous one stops working at once."""
    await visible_vehicle(conn, principal, vehicle_id)
    await repository.revoke_tokens(conn, vehicle_id)
    return await _new_token(conn, vehicle_id)


async def revoke_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> None:
    """The vehicle's device token stops working (404 if it has none)."""
    await visible_vehicle(conn, principal, vehicle_id)
    if not await repository.revoke_tokens(conn, vehicle_id):
        raise NotFoundError(f"vehicle {vehicle_id} has no device token")
