"""SQL of the accounts feature: one function per statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "EMAIL_VERIFICATION",
    "PASSWORD_RESET",
    "REFRESH",
    "StoredToken",
    "UserRecord",
    "address_failures",
    "clear_login_failures",
    "get_token_for_update",
    "get_user",
    "get_user_by_email",
    "insert_token",
    "insert_user",
    "mark_email_verified",
    "mark_token_used",
    "record_address_failure",
    "record_login_failure",
    "record_login_success",
    "revoke_family",
    "revoke_user_tokens",
    "role_names",
    "update_password",
]

# The kinds of `auth_tokens`.
REFRESH, EMAIL_VERIFICATION, PASSWORD_RESET = "refresh", "email_verification", "password_reset"

_USER_COLUMNS = """
id, email, password_hash, name, email_verified_at, is_active, deleted_at, created_at,
failed_login_count, locked_until
"""


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
class StoredToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID | None
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def _user(row: asyncpg.Record | None) -> UserRecord | None:
    return UserRecord(**dict(row)) if row is not None else None


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
    user = _user(row)
    assert user is not None
    return user


async def get_user_by_email(connection: asyncpg.Connection, email: str) -> UserRecord | None:
    return _user(
        await connection.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE email = $1", email)
    )


async def get_user(
    connection: asyncpg.Connection, user_id: uuid.UUID, *, for_update: bool = False
) -> UserRecord | None:
    lock = " FOR UPDATE" if for_update else ""
    return _user(
        await connection.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1{lock}", user_id)
    )


async def role_names(connection: asyncpg.Connection, user_id: uuid.UUID) -> list[str]:
    rows = await connection.fetch(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        " WHERE ur.user_id = $1 ORDER BY r.name",
        user_id,
    )
    return [row["name"] for row in rows]


async def record_login_success(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime, new_hash: str | None
) -> None:
    await connection.execute(
        "UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = $2,"
        " password_hash = coalesce($3, password_hash),"
        " updated_at = CASE WHEN $3::text IS NULL THEN updated_at ELSE $2 END"
        " WHERE id = $1",
        user_id,
        now,
        new_hash,
    )


async def record_login_failure(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    now: datetime,
    *,
    max_failures: int,
    base_seconds: int,
    max_seconds: int,
) -> datetime | None:
    """Count a failure; from the `max_failures`-th on, lock for a wait that doubles up to a cap."""
    locked_until: datetime | None = await connection.fetchval(
        "UPDATE users SET failed_login_count = failed_login_count + 1,"
        " locked_until = CASE WHEN failed_login_count + 1 >= $3"
        "   THEN $2::timestamptz + make_interval(secs =>"
        "     least($5::float8, $4::float8 * power(2, least(failed_login_count + 1 - $3, 30))))"
        " ELSE locked_until END"
        " WHERE id = $1 RETURNING locked_until",
        user_id,
        now,
        max_failures,
        base_seconds,
        max_seconds,
    )
    return locked_until


async def clear_login_failures(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await connection.execute(
        "UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = $1", user_id
    )


async def address_failures(
    connection: asyncpg.Connection, address: str, now: datetime, window_seconds: int
) -> tuple[int, datetime | None]:
    """Failures from `address` in the current window, and when that window started."""
    row = await connection.fetchrow(
        "SELECT failures, window_started_at FROM login_throttle"
        " WHERE client_address = $1"
        " AND window_started_at > $2::timestamptz - make_interval(secs => $3)",
        address,
        now,
        float(window_seconds),
    )
    return (row["failures"], row["window_started_at"]) if row else (0, None)


async def record_address_failure(
    connection: asyncpg.Connection, address: str, now: datetime, window_seconds: int
) -> None:
    await connection.execute(
        "INSERT INTO login_throttle (client_address, failures, window_started_at)"
        " VALUES ($1, 1, $2)"
        " ON CONFLICT (client_address) DO UPDATE SET"
        "  failures = CASE WHEN login_throttle.window_started_at"
        "   > $2::timestamptz - make_interval(secs => $3)"
        "   THEN login_throttle.failures + 1 ELSE 1 END,"
        "  window_started_at = CASE WHEN login_throttle.window_started_at"
        "   > $2::timestamptz - make_interval(secs => $3)"
        "   THEN login_throttle.window_started_at ELSE $2::timestamptz END",
        address,
        now,
        float(window_seconds),
    )


async def insert_token(
    connection: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    token_type: str,
    token_hash: bytes,
    expires_at: datetime,
    family_id: uuid.UUID | None = None,
    user_agent: str | None = None,
    client_address: str | None = None,
) -> None:
    await connection.execute(
        "INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, expires_at,"
        " user_agent, client_address) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        user_id,
        token_type,
        token_hash,
        family_id,
        expires_at,
        user_agent,
        client_address,
    )


async def get_token_for_update(
    connection: asyncpg.Connection, token_hash: bytes, token_type: str
) -> StoredToken | None:
    """The token row, locked until the transaction ends, so concurrent uses queue up."""
    row = await connection.fetchrow(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM auth_tokens"
        " WHERE token_hash = $1 AND token_type = $2 FOR UPDATE",
        token_hash,
        token_type,
    )
    return StoredToken(**dict(row)) if row is not None else None


async def mark_token_used(
    connection: asyncpg.Connection, token_id: uuid.UUID, now: datetime
) -> None:
    await connection.execute("UPDATE auth_tokens SET used_at = $2 WHERE id = $1", token_id, now)


async def revoke_family(connection: asyncpg.Connection, family_id: uuid.UUID, now: datetime) -> int:
    status: str = await connection.execute(
        "UPDATE auth_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        now,
    )
    return int(status.split()[-1])


async def revoke_user_tokens(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    token_type: str,
    now: datetime,
    *,
    keep_family: uuid.UUID | None = None,
) -> int:
    """Revoke a user's live tokens of one type, except those of session `keep_family`."""
    status: str = await connection.execute(
        "UPDATE auth_tokens SET revoked_at = $3"
        " WHERE user_id = $1 AND token_type = $2 AND revoked_at IS NULL"
        " AND ($4::uuid IS NULL OR family_id IS DISTINCT FROM $4)",
        user_id,
        token_type,
        now,
        keep_family,
    )
    return int(status.split()[-1])


async def update_password(
    connection: asyncpg.Connection, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    await connection.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3, failed_login_count = 0,"
        " locked_until = NULL WHERE id = $1",
        user_id,
        password_hash,
        now,
    )


async def mark_email_verified(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime
) -> None:
    await connection.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, $2), updated_at = $2"
        " WHERE id = $1",
        user_id,
        now,
    )
