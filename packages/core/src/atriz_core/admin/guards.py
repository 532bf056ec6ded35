"""The admin routes' check of the caller against `atriz_shared`, on every request.

An access token's `roles` claim is what the user held when it was issued, and the token lives
up to 15 minutes. For every other route that is the accepted price of verifying tokens without
a database; for the admin routes it is not: a demoted or deactivated administrator could keep
using their last token to reactivate themselves, grant themselves `admin` again and lock the
others out. So these routes also ask the database, every time, whether the caller is still an
active administrator, and whether the session the token belongs to is still open: a stolen
token must stop working at these routes the moment its user signs out everywhere or resets
the password, not when `user_events` reach this worker (milliseconds, or a poll's 2 s).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from atriz_core.client.litestar import authenticate

__all__ = ["ADMIN_ROLE", "AdminStanding", "get_admin_standing", "requires_active_admin"]

ADMIN_ROLE = "admin"

# The three answers in one statement: whether the user may act at all, whether they still
# hold `admin`, and whether the token's session is open. Every step is an index lookup: users
# and sessions by primary key, roles by its unique name, user_roles by its primary key
# (user_id, role_id). No row: the user does not exist.
_ADMIN_STANDING = """
SELECT u.is_active AND u.deleted_at IS NULL AS active,
       EXISTS (
           SELECT FROM user_roles ur
           JOIN roles r ON r.id = ur.role_id
           WHERE ur.user_id = u.id AND r.name = $2
       ) AS admin,
       EXISTS (
           SELECT FROM sessions s
           WHERE s.id = $3 AND s.user_id = u.id AND s.revoked_at IS NULL
       ) AS session_open
FROM users u
WHERE u.id = $1
"""


@dataclass(frozen=True, slots=True)
class AdminStanding:
    """What `atriz_shared` says of a caller right now."""

    active: bool
    """The account exists, is active and is not deleted."""
    admin: bool
    """It holds the `admin` role."""
    session_open: bool
    """The session the caller's token belongs to has not been ended (signed out, revoked)."""


async def get_admin_standing(
    db: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID
) -> AdminStanding:
    """Whether `user_id` is an active account, holds `admin` and still has `session_id` open:
    one statement, one round trip.

    asyncpg sends a statement it has prepared on that connection before as a single
    Bind/Execute/Sync message (the first use on each pooled connection adds a Parse).
    """
    row = await db.fetchrow(_ADMIN_STANDING, user_id, ADMIN_ROLE, session_id)
    if row is None:
        return AdminStanding(active=False, admin=False, session_open=False)
    return AdminStanding(
        active=bool(row["active"]), admin=bool(row["admin"]), session_open=row["session_open"]
    )


async def requires_active_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: the caller's account is active and holds `admin` in `atriz_shared` now, not only
    in their token.

    Put it after `requires_role("admin")`: that one refuses bad tokens (401) and tokens without
    the claim (403) without touching the database, so only callers whose token says `admin` cost
    a query, on core's own pool. A caller whose account is deactivated, deleted or gone gets 401
    (their token no longer speaks for an active user: the same answer as a login would give), and
    so does a token whose session has ended; an active caller who no longer holds `admin` gets
    403.
    """
    principal = await authenticate(connection)
    pool: asyncpg.Pool = connection.app.state.db_pool
    standing = await get_admin_standing(pool, principal.id, principal.session_id)
    if not standing.active:
        raise _invalid_token("the account is deactivated or deleted")
    if not standing.session_open:
        raise _invalid_token("the session has ended; sign in again")
    if not standing.admin:
        raise PermissionDeniedException(detail=f"requires role {ADMIN_ROLE}")


def _invalid_token(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(
        detail=detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )
