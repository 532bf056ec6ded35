"""The caller's standing in `atriz_shared`, checked on every request to core's own routes that
act for a signed-in user (`/auth/me`, `/auth/password`, `/auth/logout-all`, the admin routes,
`/oauth/userinfo` ...).

An access token lives up to 15 minutes and says what was true when it was issued. The apps
accept that and learn of revocations from `user_events` within seconds. Core reads
`atriz_shared` anyway, so its routes ask it, every time, in one indexed statement: is the
account still active, is the session the token belongs to still open (not signed out, revoked
or over), and, for the admin routes, does the user still hold `admin`. A stolen token stops
working at core the moment its user signs out everywhere or resets the password; a demoted or
deactivated administrator cannot use their last token to reactivate themselves or grant
themselves `admin` again. Asking by session rather than by time also spares core the apps'
rule that a token issued in the same second as a revocation is refused with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from atriz_core.client.litestar import authenticate
from atriz_core.client.verifier import Principal
from atriz_core.context import Core

__all__ = [
    "ADMIN_ROLE",
    "Standing",
    "get_standing",
    "requires_active_admin",
    "requires_open_session",
]

ADMIN_ROLE = "admin"

# The three answers in one statement. Every step is an index lookup: users and sessions by
# primary key, roles by its unique name, user_roles by its primary key (user_id, role_id). No
# row: the user does not exist.
_STANDING = """
SELECT u.is_active AND u.deleted_at IS NULL AS active,
       EXISTS (
           SELECT FROM user_roles ur
           JOIN roles r ON r.id = ur.role_id
           WHERE ur.user_id = u.id AND r.name = $2
       ) AS admin,
       EXISTS (
           SELECT FROM sessions s
           WHERE s.id = $3 AND s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $4
       ) AS session_open
FROM users u
WHERE u.id = $1
"""


@dataclass(frozen=True, slots=True)
class Standing:
    """What `atriz_shared` says of a caller right now."""

    active: bool
    """The account exists, is active and is not deleted."""
    admin: bool
    """It holds the `admin` role."""
    session_open: bool
    """The session the caller's token belongs to is neither ended (signed out, revoked) nor
    over."""


async def get_standing(
    db: asyncpg.Pool | asyncpg.Connection,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    now: datetime,
) -> Standing:
    """`user_id`'s standing, with `session_id` as its token's session: one statement, one round
    trip.

    asyncpg sends a statement it has prepared on that connection before as a single
    Bind/Execute/Sync message (the first use on each pooled connection adds a Parse).
    """
    row = await db.fetchrow(_STANDING, user_id, ADMIN_ROLE, session_id, now)
    if row is None:
        return Standing(active=False, admin=False, session_open=False)
    return Standing(
        active=bool(row["active"]), admin=bool(row["admin"]), session_open=row["session_open"]
    )


async def _standing_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Standing:
    """The caller's standing; 401 unless their account is active and their session open."""
    principal: Principal = await authenticate(connection)
    core: Core = connection.app.state.core
    pool: asyncpg.Pool = connection.app.state.db_pool
    standing = await get_standing(pool, principal.id, principal.session_id, core.clock.now())
    if not standing.active:
        raise _invalid_token("the account is deactivated or deleted")
    if not standing.session_open:
        raise _invalid_token("the session has ended; sign in again")
    return standing


async def requires_open_session(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: a valid access token whose account is active and whose session is open now.

    A caller whose account is deactivated, deleted or gone gets 401 (their token no longer
    speaks for an active user: the same answer as a login would give), and so does a token
    whose session has ended.
    """
    await _standing_of(connection)


async def requires_active_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: `requires_open_session`, and the caller holds `admin` in `atriz_shared` now, not
    only in their token (403 otherwise).

    Put it after `requires_role("admin")`: that one refuses bad tokens (401) and tokens without
    the claim (403) without touching the database, so only callers whose token says `admin` cost
    a query, on core's own pool.
    """
    if not (await _standing_of(connection)).admin:
        raise PermissionDeniedException(detail=f"requires role {ADMIN_ROLE}")


def _invalid_token(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(
        detail=detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )
