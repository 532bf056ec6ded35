"""The profile statements, one function each."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_website.profiles.schemas import Profile, PublicProfile

__all__ = [
    "delete_profile",
    "ensure_profile",
    "get_profile",
    "get_public_profile",
    "is_deleted_user",
    "update_profile",
    "user_name",
]

_COLUMNS = (
    "user_id, display_name, bio, avatar_url, locale, time_zone, preferences, created_at, updated_at"
)
_PUBLIC = "user_id, display_name, bio, avatar_url, created_at"


def _profile(row: asyncpg.Record) -> Profile:
    # The pool's codec decodes jsonb (atriz_database.pool).
    return Profile(**dict(row))


async def get_profile(conn: asyncpg.Connection, user_id: uuid.UUID) -> Profile | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM user_profiles WHERE user_id = $1", user_id)
    return None if row is None else _profile(row)


async def ensure_profile(
    conn: asyncpg.Connection, user_id: uuid.UUID, display_name: str
) -> Profile:
    """The user's profile, created with `display_name` if there is none yet (two first visits
    at once create one)."""
    row = await conn.fetchrow(
        f"""
        WITH created AS (
            INSERT INTO user_profiles (user_id, display_name) VALUES ($1, $2)
            ON CONFLICT (user_id) DO NOTHING
            RETURNING {_COLUMNS}
        )
        SELECT {_COLUMNS} FROM created
        UNION ALL
        SELECT {_COLUMNS} FROM user_profiles WHERE user_id = $1
        LIMIT 1
        """,
        user_id,
        display_name,
    )
    if row is None:  # created by a concurrent request after this statement's snapshot
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM user_profiles WHERE user_id = $1", user_id
        )
    return _profile(row)


async def update_profile(
    conn: asyncpg.Connection, user_id: uuid.UUID, fields: dict[str, Any]
) -> Profile:
    row = await conn.fetchrow(
        f"""
        INSERT INTO user_profiles
            (user_id, display_name, bio, avatar_url, locale, time_zone, preferences)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (user_id) DO UPDATE SET
            display_name = EXCLUDED.display_name, bio = EXCLUDED.bio,
            avatar_url = EXCLUDED.avatar_url, locale = EXCLUDED.locale,
            time_zone = EXCLUDED.time_zone, preferences = EXCLUDED.preferences,
            updated_at = now()
        RETURNING {_COLUMNS}
        """,
        user_id,
        fields["display_name"],
        fields["bio"],
        fields["avatar_url"],
        fields["locale"],
        fields["time_zone"],
        fields["preferences"],
    )
    return _profile(row)


async def get_public_profile(conn: asyncpg.Connection, user_id: uuid.UUID) -> PublicProfile | None:
    row = await conn.fetchrow(f"SELECT {_PUBLIC} FROM user_profiles WHERE user_id = $1", user_id)
    return None if row is None else PublicProfile(**dict(row))


async def delete_profile(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM user_profiles WHERE user_id = $1", user_id)


# atriz_shared, through the reader role.
async def user_name(shared: asyncpg.Connection, user_id: uuid.UUID) -> str | None:
    """The user's name in atriz_shared, None if the account is deleted or unknown."""
    name: str | None = await shared.fetchval(
        "SELECT name FROM users WHERE id = $1 AND deleted_at IS NULL", user_id
    )
    return name


async def is_deleted_user(shared: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    """Whether atriz_shared holds the account as deleted (or not at all)."""
    alive: bool | None = await shared.fetchval(
        "SELECT deleted_at IS NULL FROM users WHERE id = $1", user_id
    )
    return not alive
