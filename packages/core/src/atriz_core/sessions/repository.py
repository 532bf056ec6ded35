"""SQL of sessions and their refresh tokens: one function per statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "LockedSession",
    "RefreshToken",
    "get_refresh_token",
    "has_live_session",
    "lock_session",
    "revoke_session",
    "revoke_user_sessions",
    "rotate_session",
]


@dataclass(frozen=True)
class RefreshToken:
    id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    generation: int
    expires_at: datetime


@dataclass(frozen=True)
class LockedSession:
    """A session row, locked until the transaction ends, with what a refresh needs of its user."""

    id: uuid.UUID
    user_id: uuid.UUID
    generation: int
    rotated_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None
    email: str
    user_can_sign_in: bool
    client_id: str | None
    """The OpenID Connect client whose session it is; None for `/auth/login`'s sessions."""
    scope: str | None
    """What that client was granted."""
    third_party: bool
    """That client is not first-party: its access tokens only read who the user is."""


async def get_refresh_token(
    connection: asyncpg.Connection, token_hash: bytes
) -> RefreshToken | None:
    row = await connection.fetchrow(
        "SELECT id, user_id, family_id AS session_id, generation, expires_at FROM auth_tokens"
        " WHERE token_hash = $1 AND token_type = 'refresh'",
        token_hash,
    )
    return RefreshToken(**dict(row)) if row is not None else None


async def lock_session(
    connection: asyncpg.Connection, session_id: uuid.UUID
) -> LockedSession | None:
    """The session, locked `FOR UPDATE`: refreshes and revocations of it queue up here."""
    row = await connection.fetchrow(
        "SELECT s.id, s.user_id, s.generation, s.rotated_at, s.expires_at, s.revoked_at,"
        " u.email, u.is_active AND u.deleted_at IS NULL AS user_can_sign_in, s.client_id, s.scope,"
        " coalesce(NOT c.first_party, false) AS third_party"
        " FROM sessions s JOIN users u ON u.id = s.user_id"
        " LEFT JOIN oauth_clients c ON c.id = s.client_id"
        " WHERE s.id = $1 FOR UPDATE OF s",
        session_id,
    )
    return LockedSession(**dict(row)) if row is not None else None


async def open_session(
    connection: asyncpg.Connection,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
    expires_at: datetime,
) -> None:
    """A session with no token yet, for an access token minted outside a sign-in (the test
    kit's users): core's admin routes accept a token only while its session is open."""
    await connection.execute(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        session_id,
        user_id,
        now,
        expires_at,
    )


async def has_live_session(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime
) -> bool:
    """Whether the user has a session that is neither revoked nor over."""
    live: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM sessions"
        " WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2)",
        user_id,
        now,
    )
    return live


async def rotate_session(
    connection: asyncpg.Connection,
    *,
    session: LockedSession,
    spent_token_id: uuid.UUID,
    generation: int,
    now: datetime,
    token_hash: bytes,
    expires_at: datetime,
    user_agent: str | None,
    client_address: str | None,
) -> list[str]:
    """Store the session's next refresh token (of `generation`, advancing the session to it if
    it is newer), mark the presented one used; return the user's role names. One round trip."""
    rows = await connection.fetch(
        "WITH advanced AS ("
        "  UPDATE sessions SET generation = $3, rotated_at = $4"
        "  WHERE id = $1 AND generation < $3"
        "), spent AS ("
        "  UPDATE auth_tokens SET used_at = coalesce(used_at, $4) WHERE id = $5"
        "), issued AS ("
        "  INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, generation,"
        "   expires_at, user_agent, client_address)"
        "  VALUES ($2, 'refresh', $6, $1, $3, $7, $8, $9)"
        ")"
        " SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        " WHERE ur.user_id = $2 ORDER BY r.name",
        session.id,
        session.user_id,
        generation,
        now,
        spent_token_id,
        token_hash,
        expires_at,
        user_agent,
        client_address,
    )
    return [row["name"] for row in rows]


async def revoke_session(
    connection: asyncpg.Connection, session_id: uuid.UUID, now: datetime
) -> bool:
    status: str = await connection.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        now,
    )
    return status.endswith(" 1")


async def revoke_user_sessions(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    now: datetime,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    """End every live session of a user but `keep`; return how many ended.

    The UPDATE locks each session row, so it waits for a refresh in flight and every refresh
    after it sees the session revoked.
    """
    status: str = await connection.execute(
        "UPDATE sessions SET revoked_at = $2"
        " WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3)",
        user_id,
        now,
        keep,
    )
    return int(status.split()[-1])
