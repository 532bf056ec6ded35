"""Device tokens: a tracker's credential for one vehicle, random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

import asyncpg

from atriz_core.client.verifier import Principal
from atriz_core.errors import ConflictError, NotFoundError
from atriz_mextrack.devices import repository
from atriz_mextrack.devices.schemas import DeviceToken
from atriz_mextrack.vehicles.services import locked_visible_vehicle

__all__ = [
    "DEVICE_TOKEN_CHALLENGE",
    "INVALID_DEVICE_TOKEN",
    "TOKEN_PREFIX",
    "Tracker",
    "digest_of",
    "is_device_token",
    "issue_token",
    "revoke_token",
    "rotate_token",
    "still_live",
    "token_matches",
]

TOKEN_PREFIX = "mxd_"  # noqa: S105 - a prefix, not a secret
"""Device tokens start with it: told apart from access tokens (JWTs) at a glance, and easy for
secret scanners to find."""
_NO_TOKEN = hashlib.sha256(b"no device token").digest()
DEVICE_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'  # noqa: S105 - a header value
INVALID_DEVICE_TOKEN = "invalid device token (revoked, rotated, or another vehicle's)"  # noqa: S105 - a message


@dataclass(frozen=True)
class Tracker:
    """A request signed in with a vehicle's device token: the vehicle, and the token's digest,
    checked again once the batch holds the vehicle (`still_live`)."""

    vehicle_id: uuid.UUID
    digest: bytes


def digest_of(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def is_device_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def token_matches(digest: bytes, stored: bytes | None) -> bool:
    """Whether the token of `digest` is the one whose digest is `stored`, compared in constant
    time."""
    return hmac.compare_digest(digest, stored or _NO_TOKEN) and stored is not None


async def still_live(conn: asyncpg.Connection, tracker: Tracker) -> bool:
    """Whether the tracker's token is still the vehicle's live one. Asked under the vehicle's
    lock, which rotations, revocations and reassignments take before they end a token: a batch
    that passed the guard just before one of them committed is refused, not stored."""
    return token_matches(tracker.digest, await repository.live_token_hash(conn, tracker.vehicle_id))


async def _new_token(conn: asyncpg.Connection, vehicle_id: uuid.UUID) -> DeviceToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created_at = await repository.insert_token(conn, vehicle_id, digest_of(token))
    return DeviceToken(vehicle_id=vehicle_id, token=token, created_at=created_at)


async def issue_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> DeviceToken:
    """A first device token for the vehicle (409 if it has a live one: rotate it instead)."""
    await locked_visible_vehicle(conn, principal, vehicle_id)
    if await repository.live_token_hash(conn, vehicle_id) is not None:
        raise ConflictError(f"vehicle {vehicle_id} has a device token: rotate or revoke it")
    return await _new_token(conn, vehicle_id)


async def rotate_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> DeviceToken:
    """A new device token; the previous one stops working at once."""
    await locked_visible_vehicle(conn, principal, vehicle_id)
    await repository.revoke_tokens(conn, vehicle_id)
    return await _new_token(conn, vehicle_id)


async def revoke_token(
    conn: asyncpg.Connection, principal: Principal, vehicle_id: uuid.UUID
) -> None:
    """The vehicle's device token stops working (404 if it has none)."""
    await locked_visible_vehicle(conn, principal, vehicle_id)
    if not await repository.revoke_tokens(conn, vehicle_id):
        raise NotFoundError(f"vehicle {vehicle_id} has no device token")
