"""Profile rules: created on first access, validated beyond what the schema can say."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

from atriz_core.client.users import hold_users
from atriz_core.errors import InvalidInputError, NotFoundError
from atriz_core.kit.times import time_zones
from atriz_website.profiles import repository
from atriz_website.profiles.schemas import (
    MAX_PREFERENCES_BYTES,
    Profile,
    ProfileUpdate,
    PublicProfile,
)

__all__ = ["ensure_own_profile", "get_own_profile", "get_public_profile", "update_own_profile"]

_FALLBACK_NAME = "Atriz user"


async def get_own_profile(
    conn: asyncpg.Connection, shared: asyncpg.Connection, user_id: uuid.UUID
) -> Profile:
    """The caller's profile, created on first access with their account's name."""
    profile = await repository.get_profile(conn, user_id)
    if profile is not None:
        return profile
    async with conn.transaction():  # a read's connection has none: the hold needs one
        return await ensure_own_profile(conn, shared, user_id)


async def ensure_own_profile(
    conn: asyncpg.Connection, shared: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID
) -> Profile:
    """The signed-in user's profile, made now with their account's name unless it exists; in
    a transaction, holding the user (`hold_users`): a deletion applied meanwhile finds it, and
    an account deleted already gets none (401)."""
    await hold_users(conn, shared, [], signed_in=user_id)
    name = ((await repository.user_name(shared, user_id) or "")[:100]).strip()
    return await repository.ensure_profile(conn, user_id, name or _FALLBACK_NAME)


async def update_own_profile(
    conn: asyncpg.Connection, shared: asyncpg.Connection, user_id: uuid.UUID, data: ProfileUpdate
) -> Profile:
    """Replace the caller's profile (creating it if needed), holding the user as
    `ensure_own_profile` does."""
    if not data.display_name.strip():
        raise InvalidInputError.for_field("display_name", "must not be blank")
    if data.time_zone not in time_zones():
        raise InvalidInputError.for_field(
            "time_zone", "is not an IANA time zone (such as Europe/Madrid or UTC)"
        )
    encoded = msgspec.json.encode(data.preferences)
    if len(encoded) > MAX_PREFERENCES_BYTES:
        raise InvalidInputError.for_field(
            "preferences", f"is larger than {MAX_PREFERENCES_BYTES} bytes as JSON"
        )
    if b"\\u0000" in encoded:  # jsonb holds no NUL character, in a key or a value
        raise InvalidInputError.for_field("preferences", "holds a NUL character")
    await hold_users(conn, shared, [], signed_in=user_id)
    return await repository.update_profile(conn, user_id, msgspec.structs.asdict(data))


async def get_public_profile(
    conn: asyncpg.Connection, shared: asyncpg.Connection, user_id: uuid.UUID
) -> PublicProfile:
    """A user's public fields; 404 for no profile, or an account deleted in atriz_shared (its
    profile goes when the deletion event is applied; this covers the moments before)."""
    profile = await repository.get_public_profile(conn, user_id)
    if profile is None or await repository.is_deleted_user(shared, user_id):
        raise NotFoundError(f"no profile for user {user_id}")
    return profile
