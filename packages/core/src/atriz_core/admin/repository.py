"""SQL of the admin feature: one function per statement."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from atriz_core.admin.schemas import UserSummary
from atriz_core.kit.pagination import CursorValue, Keyset

__all__ = ["USERS_BY_CREATION", "search_users"]

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
