"""Device token statements, one function each."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

__all__ = ["insert_token", "live_token_hash", "revoke_tokens", "revoke_tokens_of_vehicles"]

_LIVE = "SELECT token_hash FROM device_tokens WHERE vehicle_id = $1 AND revoked_at IS NULL"
_INSERT = "INSERT INTO device_tokens (vehicle_id, token_hash) VALUES ($1, $2) RETURNING created_at"
_REVOKE = (
    "UPDATE device_tokens SET revoked_at = now() WHERE vehicle_id = $1 AND revoked_at IS NULL"
    " RETURNING id"
)
_REVOKE_OF_VEHICLES = """
UPDATE device_tokens SET revoked_at = now()
WHERE vehicle_id = ANY($1::uuid[]) AND revoked_at IS NULL
"""


async def live_token_hash(
    conn: asyncpg.Connection | asyncpg.Pool, vehicle_id: uuid.UUID
) -> bytes | None:
    """The SHA-256 of the vehicle's live device token, if it has one."""
    digest: bytes | None = await conn.fetchval(_LIVE, vehicle_id)
    return digest


async def insert_token(conn: asyncpg.Connection, vehicle_id: uuid.UUID, digest: bytes) -> datetime:
    created: datetime = await conn.fetchval(_INSERT, vehicle_id, digest)
    return created


async def revoke_tokens(conn: asyncpg.Connection, vehicle_id: uuid.UUID) -> int:
    """Revoke the vehicle's live token; how many were live (0 or 1)."""
    return len(await conn.fetch(_REVOKE, vehicle_id))


async def revoke_tokens_of_vehicles(conn: asyncpg.Connection, vehicle_ids: list[uuid.UUID]) -> None:
    await conn.execute(_REVOKE_OF_VEHICLES, vehicle_ids)
