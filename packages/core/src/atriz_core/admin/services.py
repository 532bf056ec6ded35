"""Business rules of user and role administration."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atriz_core.accounts import links
from atriz_core.admin import repository
from atriz_core.admin.schemas import Role, UserSummary
from atriz_core.audit import record_event
from atriz_core.client.user_events import DEACTIVATED, DELETED, REACTIVATED, ROLES_CHANGED
from atriz_core.client.verifier import Principal
from atriz_core.clock import Clock, SystemClock
from atriz_core.context import Core, RequestContext
from atriz_core.errors import ConflictError, NotFoundError
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.passwords.policy import acceptable_password
from atriz_core.sessions import repository as sessions
from atriz_core.user_events import record_user_event
from atriz_core.users import repository as users
from atriz_core.users.repository import RoleRecord, UserRecord

__all__ = [
    "create_role",
    "deactivate_user",
    "delete_user",
    "ensure_administrator",
    "grant_role",
    "list_roles",
    "list_users",
    "reactivate_user",
    "revoke_role",
]

_SYSTEM_CLOCK = SystemClock()


async def list_users(
    connection: asyncpg.Connection,
    cursors: CursorCodec,
    *,
    query: str | None,
    limit: int,
    cursor: str | None,
) -> Page[UserSummary]:
    """One page of the users whose e-mail or name contains `query`, oldest first, from the
    position `cursor` names (absent: from the first). A bad cursor is an `InvalidCursorError`.

    No total: counting every matching user for every page is the cost keyset pagination avoids.
    """
    after = cursors.position(cursor, repository.USERS_BY_CREATION)
    found = await repository.search_users(
        connection, repository.like_pattern(query), after, limit + 1
    )
    return cursors.page(found, limit, repository.USERS_BY_CREATION, _creation_position)


def _creation_position(user: UserSummary) -> tuple[datetime, uuid.UUID]:
    return (user.created_at, user.id)


async def _existing_user(connection: asyncpg.Connection, user_id: uuid.UUID) -> UserRecord:
    user = await users.get_user(connection, user_id, for_update=True)
    if user is None or user.deleted_at is not None:
        raise NotFoundError(f"no user {user_id}")
    return user


async def _end_sessions(connection: asyncpg.Connection, core: Core, user_id: uuid.UUID) -> None:
    now = core.clock.now()
    await sessions.revoke_user_sessions(connection, user_id, now)
    await links.revoke_links(connection, user_id, now)


async def deactivate_user(
    connection: asyncpg.Connection,
    core: Core,
    admin: Principal,
    user_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Stop a user from signing in, end their sessions, and tell the apps (`user_events`)."""
    if user_id == admin.id:
        raise ConflictError("an administrator cannot deactivate their own account")
    async with connection.transaction():
        await _existing_user(connection, user_id)
        if await users.set_user_active(connection, user_id, False, core.clock.now()):
            await _end_sessions(connection, core, user_id)
            await record_user_event(connection, user_id, DEACTIVATED, at=core.clock.now())
            await record_event(
                connection, "user_deactivated", user_id=user_id, actor_id=admin.id, context=context
            )


async def reactivate_user(
    connection: asyncpg.Connection,
    core: Core,
    admin: Principal,
    user_id: uuid.UUID,
    context: RequestContext,
) -> None:
    async with connection.transaction():
        await _existing_user(connection, user_id)
        if await users.set_user_active(connection, user_id, True, core.clock.now()):
            await users.clear_login_failures(connection, user_id)
            await record_user_event(connection, user_id, REACTIVATED, at=core.clock.now())
            await record_event(
                connection, "user_reactivated", user_id=user_id, actor_id=admin.id, context=context
            )


async def delete_user(
    connection: asyncpg.Connection,
    core: Core,
    admin: Principal,
    user_id: uuid.UUID,
    context: RequestContext,
) -> None:
    """Soft-delete: the row stays (apps may still refer to it), the account is gone for good."""
    if user_id == admin.id:
        raise ConflictError("an administrator cannot delete their own account")
    async with connection.transaction():
        await _existing_user(connection, user_id)
        await users.soft_delete_user(connection, user_id, core.clock.now())
        await _end_sessions(connection, core, user_id)
        await record_user_event(connection, user_id, DELETED, at=core.clock.now())
        await record_event(
            connection, "user_deleted", user_id=user_id, actor_id=admin.id, context=context
        )


def _role(record: RoleRecord) -> Role:
    return Role(name=record.name, description=record.description, created_at=record.created_at)


async def list_roles(connection: asyncpg.Connection) -> list[Role]:
    return [_role(record) for record in await users.list_roles(connection)]


async def create_role(
    connection: asyncpg.Connection,
    admin: Principal,
    *,
    name: str,
    description: str,
    context: RequestContext,
) -> Role:
    try:
        async with connection.transaction():
            role = _role(await users.insert_role(connection, name, description))
            await record_event(
                connection,
                "role_created",
                actor_id=admin.id,
                context=context,
                details={"role": name},
            )
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(f"role {name} already exists") from exc
    return role


async def _role_id(connection: asyncpg.Connection, name: str) -> int:
    role_id = await users.get_role_id(connection, name)
    if role_id is None:
        raise NotFoundError(f"no role {name}")
    return role_id


async def grant_role(
    connection: asyncpg.Connection,
    admin: Principal | None,
    user_id: uuid.UUID,
    role: str,
    context: RequestContext | None,
    *,
    clock: Clock = _SYSTEM_CLOCK,
) -> None:
    """Give a user a role (no change if they have it). `admin` is None for seeds and commands.

    A user who is signed in hears of it at once: the apps are told (`roles_changed`) and refuse
    their tokens issued before, which lack the role, and the refresh that follows brings it. A
    grant revokes nothing, so a user with no live session is not announced: tokens minted for
    them right after (a test's) stay good.
    """
    async with connection.transaction():
        await _existing_user(connection, user_id)
        role_id = await _role_id(connection, role)
        actor = admin.id if admin else None
        if await users.insert_role_grant(connection, user_id, role_id, actor):
            now = clock.now()
            if await sessions.has_live_session(connection, user_id, now):
                await record_user_event(connection, user_id, ROLES_CHANGED, at=now)
            await record_event(
                connection,
                "role_granted",
                user_id=user_id,
                actor_id=actor,
                context=context,
                details={"role": role},
            )


async def revoke_role(
    connection: asyncpg.Connection,
    admin: Principal,
    user_id: uuid.UUID,
    role: str,
    context: RequestContext,
    *,
    clock: Clock = _SYSTEM_CLOCK,
) -> None:
    """Take a role from a user; the apps hear of it (`roles_changed`) and refuse the user's
    tokens issued before, which still carry the role."""
    if user_id == admin.id and role == "admin":
        raise ConflictError("an administrator cannot remove their own admin role")
    async with connection.transaction():
        await _existing_user(connection, user_id)
        role_id = await _role_id(connection, role)
        if not await users.delete_role_grant(connection, user_id, role_id):
            raise NotFoundError(f"user {user_id} does not have role {role}")
        await record_user_event(connection, user_id, ROLES_CHANGED, at=clock.now())
        await record_event(
            connection,
            "role_revoked",
            user_id=user_id,
            actor_id=admin.id,
            context=context,
            details={"role": role},
        )


async def ensure_administrator(
    connection: asyncpg.Connection,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str | None,
    name: str,
) -> tuple[bool, bool]:
    """Create an administrator, or grant `admin` to an existing user (password untouched).

    Returns (created, granted).
    """
    async with connection.transaction():
        user = await users.get_user_by_email(connection, email)
        created = user is None
        if user is None:
            acceptable = acceptable_password(
                password or "", email=email, name=name, field="password"
            )
            password_hash = await hasher.hash(acceptable)
            user = await users.insert_user(connection, email, password_hash, name)
        role_id = await _role_id(connection, "admin")
        granted = await users.insert_role_grant(connection, user.id, role_id, None)
        if granted:
            await record_event(
                connection, "role_granted", user_id=user.id, details={"role": "admin"}
            )
    return created, granted
