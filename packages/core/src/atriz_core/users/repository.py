"""SQL of users and their roles (`users`, `roles`, `user_roles`): one function per statement.

These tables belong to no one feature: accounts registers users and reads their roles, admin
activates, deletes and grants, the test kit makes users. What only one feature does stays in its
repository: a login's bookings on the account (`accounts.repository`), the admin list's search
(`admin.repository`), a login's or a refresh's single statement that reads the roles along.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "USER_FIELDS",
    "RoleRecord",
    "UserRecord",
    "clear_login_failures",
    "delete_role_grant",
    "get_role_id",
    "get_user",
    "get_user_by_email",
    "insert_role",
    "insert_role_grant",
    "insert_user",
    "list_roles",
    "role_names",
    "set_user_active",
    "soft_delete_user",
    "user_record",
]

USER_FIELDS = (
    "id", "email", "password_hash", "name", "email_verified_at", "is_active", "deleted_at",
    "created_at", "failed_login_count", "locked_until",
)  # fmt: skip
_USER_COLUMNS = ", ".join(USER_FIELDS)


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    email: str
    password_hash: str
    name: str
    email_verified_at: datetime | None
    is_active: bool
    deleted_at: datetime | None
    created_at: datetime
    failed_login_count: int
    locked_until: datetime | None

    @property
    def can_sign_in(self) -> bool:
        return self.is_active and self.deleted_at is None


@dataclass(frozen=True)
class RoleRecord:
    name: str
    description: str
    created_at: datetime


def user_record(row: asyncpg.Record | None) -> UserRecord | None:
    """The user in a row holding `USER_FIELDS`; None for no row, or for a LEFT JOIN's NULLs."""
    if row is None or row["id"] is None:
        return None
    return UserRecord(**{field: row[field] for field in USER_FIELDS})


async def insert_user(
    connection: asyncpg.Connection, email: str, password_hash: str, name: str
) -> UserRecord:
    row = await connection.fetchrow(
        f"INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3)"
        f" RETURNING {_USER_COLUMNS}",
        email,
        password_hash,
        name,
    )
    user = user_record(row)
    assert user is not None
    return user


async def get_user_by_email(connection: asyncpg.Connection, email: str) -> UserRecord | None:
    return user_record(
        await connection.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE email = $1", email)
    )


async def hold_for_a_token(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Lock the user's row FOR SHARE until the transaction ends, before minting a token from
    what the following statements read of the user (its roles, whether it may sign in).

    A change to the user (`get_user(for_update=True)`: roles, deactivation) holds the row from
    before it stamps its event until it commits. So a token minted under this lock either reads
    the user after such a change committed, or is issued before the stamp of a change that
    waits for it: never issued after a change's stamp with what the change took away. Taken
    before any session row, in the order the changes take them (the user, then its sessions).
    """
    await connection.execute("SELECT FROM users WHERE id = $1 FOR SHARE", user_id)


async def get_user(
    connection: asyncpg.Connection, user_id: uuid.UUID, *, for_update: bool = False
) -> UserRecord | None:
    # NO KEY UPDATE: serialises changes to the user, but lets a refresh running beside them
    # insert a token (its foreign key takes KEY SHARE on the user), where FOR UPDATE deadlocked
    # with a refresh holding the session row.
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return user_record(
        await connection.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1{lock}", user_id)
    )


async def role_names(connection: asyncpg.Connection, user_id: uuid.UUID) -> list[str]:
    rows = await connection.fetch(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        " WHERE ur.user_id = $1 ORDER BY r.name",
        user_id,
    )
    return [row["name"] for row in rows]


async def clear_login_failures(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Forget the account's failed logins and lift its lock: a password reset or a reactivation
    starts it afresh. (A login's own bookings are `accounts.repository`'s.)"""
    await connection.execute(
        "UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = $1", user_id
    )


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


async def list_roles(connection: asyncpg.Connection) -> list[RoleRecord]:
    rows = await connection.fetch("SELECT name, description, created_at FROM roles ORDER BY name")
    return [RoleRecord(**dict(row)) for row in rows]


async def insert_role(connection: asyncpg.Connection, name: str, description: str) -> RoleRecord:
    row = await connection.fetchrow(
        "INSERT INTO roles (name, description) VALUES ($1, $2)"
        " RETURNING name, description, created_at",
        name,
        description,
    )
    return RoleRecord(**dict(row))


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
