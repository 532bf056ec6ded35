"""SQL of the admin feature: one function per statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from atriz_core.admin.schemas import Role, UserSummary
from atriz_core.kit.pagination import CursorValue, Keyset

__all__ = [
    "USERS_BY_CREATION",
    "delete_role_grant",
    "get_role_id",
    "insert_role",
    "insert_role_grant",
    "list_roles",
    "search_users",
    "set_user_active",
    "soft_delete_user",
]

USERS_BY_CREATION = Keyset("core.admin.users.by_creation", ("u.created_at", "u.id"))
"""The admin list's order: oldest first, ties (one transaction's users) broken by id."""

# The page is cut from `users` before the roles are gathered, one small lookup per user shown,
# so the LIMIT stops the scan instead of applying after an aggregate over every match.
_SEARCH_USERS = (
    "SELECT u.id, u.email, u.name, u.is_active, u.email_verified_at IS NOT NULL AS verified,"
    " u.created_at, u.last_login_at, u.deleted_at,"
    " ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
    "       WHERE ur.user_id = u.id ORDER BY r.name) AS roles"
    " FROM users u"
    " WHERE ($1::text IS NULL OR u.email ILIKE $1 OR u.name ILIKE $1){after}"
    " ORDER BY {order} LIMIT $2"
)
_SEARCH_FIRST_USERS = _SEARCH_USERS.format(after="", order=USERS_BY_CREATION.order_by())
_SEARCH_USERS_AFTER = _SEARCH_USERS.format(
    after=f" AND {USERS_BY_CREATION.after(3)}", order=USERS_BY_CREATION.order_by()
)


def like_pattern(query: str | None) -> str | None:
    """A substring pattern with LIKE's wildcards in `query` escaped."""
    if not query:
        return None
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_users(
    connection: asyncpg.Connection,
    pattern: str | None,
    after: Sequence[CursorValue] | None,
    limit: int,
) -> list[UserSummary]:
    """Up to `limit` users matching `pattern` (a LIKE pattern, or None for all), in
    `USERS_BY_CREATION` order, after the position `after` (None: from the first)."""
    if after is None:
        rows = await connection.fetch(_SEARCH_FIRST_USERS, pattern, limit)
    else:
        rows = await connection.fetch(_SEARCH_USERS_AFTER, pattern, limit, *after)
    return [
        UserSummary(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            is_active=row["is_active"],
            email_verified=row["verified"],
            roles=list(row["roles"]),
            created_at=row["created_at"],
            last_login_at=row["last_login_at"],
            deleted_at=row["deleted_at"],
        )
        for row in rows
    ]


async def set_user_active(
    connection: asyncpg.Connection, user_id: uuid.UUID, active: bool, now: datetime
) -> bool:
    """Set the flag; False if the user does not exist, is deleted, or already had that value."""
    status: str = await connection.execute(
        "UPDATE users SET is_active = $2, updated_at = $3"
        " WHERE id = $1 AND deleted_at IS NULL AND is_active <> $2",
        user_id,
        active,
        now,
    )
    return status.endswith(" 1")


async def soft_delete_user(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime
) -> bool:
    status: str = await connection.execute(
        "UPDATE users SET deleted_at = $2, is_active = false, updated_at = $2"
        " WHERE id = $1 AND deleted_at IS NULL",
        user_id,
        now,
    )
    return status.endswith(" 1")


async def list_roles(connection: asyncpg.Connection) -> list[Role]:
    rows = await connection.fetch("SELECT name, description, created_at FROM roles ORDER BY name")
    return [Role(**dict(row)) for row in rows]


async def insert_role(connection: asyncpg.Connection, name: str, description: str) -> Role:
    row = await connection.fetchrow(
        "INSERT INTO roles (name, description) VALUES ($1, $2)"
        " RETURNING name, description, created_at",
        name,
        description,
    )
    return Role(**dict(row))


async def get_role_id(connection: asyncpg.Connection, name: str) -> int | None:
    role_id: int | None = await connection.fetchval("SELECT id FROM roles WHERE name = $1", name)
    return role_id


async def insert_role_grant(
    connection: asyncpg.Connection, user_id: uuid.UUID, role_id: int, granted_by: uuid.UUID | None
) -> bool:
    """Grant a role; False if the user already had it."""
    status: str = await connection.execute(
        "INSERT INTO user_roles (user_id, role_id, granted_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, role_id) DO NOTHING",
        user_id,
        role_id,
        granted_by,
    )
    return status.endswith(" 1")


async def delete_role_grant(
    connection: asyncpg.Connection, user_id: uuid.UUID, role_id: int
) -> bool:
    status: str = await connection.execute(
        "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2", user_id, role_id
    )
    return status.endswith(" 1")
