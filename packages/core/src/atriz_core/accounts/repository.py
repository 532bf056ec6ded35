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
    "LoginCandidate",
    "StoredToken",
    "UserRecord",
    "clear_login_failures",
    "get_token_for_update",
    "get_user",
    "get_user_by_email",
    "insert_token",
    "insert_user",
    "login_candidate",
    "mark_email_verified",
    "mark_token_used",
    "record_address_failure",
    "record_login_failure",
    "revoke_family",
    "revoke_user_tokens",
    "role_names",
    "start_session",
    "update_password",
]

# The kinds of `auth_tokens`.
REFRESH, EMAIL_VERIFICATION, PASSWORD_RESET = "refresh", "email_verification", "password_reset"

_USER_FIELDS = (
    "id", "email", "password_hash", "name", "email_verified_at", "is_active", "deleted_at",
    "created_at", "failed_login_count", "locked_until",
)  # fmt: skip
_USER_COLUMNS = ", ".join(_USER_FIELDS)


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


@dataclass(frozen=True)
class LoginCandidate:
    """What a login checks before hashing: the account, and recent failures from the address."""

    user: UserRecord | None
    address_failures: int
    address_window_started_at: datetime | None


def _user(row: asyncpg.Record | None) -> UserRecord | None:
    if row is None or row["id"] is None:
        return None
    return UserRecord(**{field: row[field] for field in _USER_FIELDS})


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


async def login_candidate(
    connection: asyncpg.Connection,
    email: str,
    client_address: str | None,
    now: datetime,
    window_seconds: int,
) -> LoginCandidate:
    """The account of `email` and the failures from `client_address` in the current window, in
    one round trip (see `start_session` on why a login counts its round trips)."""
    columns = ", ".join(f"u.{field}" for field in _USER_FIELDS)
    row = await connection.fetchrow(
        f"SELECT {columns}, t.failures, t.window_started_at"
        " FROM (VALUES (1)) AS one (x)"
        " LEFT JOIN users u ON u.email = $1"
        " LEFT JOIN login_throttle t ON t.client_address = $2"
        "  AND t.window_started_at > $3::timestamptz - make_interval(secs => $4)",
        email,
        client_address,
        now,
        float(window_seconds),
    )
    assert row is not None  # the VALUES row is always there
    return LoginCandidate(
        user=_user(row),
        address_failures=row["failures"] or 0,
        address_window_started_at=row["window_started_at"],
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


async def start_session(
    connection: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    now: datetime,
    new_hash: str | None,
    token_hash: bytes,
    family_id: uuid.UUID,
    expires_at: datetime,
    user_agent: str | None,
    client_address: str | None,
    rehashed: bool,
) -> list[str]:
    """A successful login, as one atomic statement: clear the failure count (and store a rehash),
    store the session's refresh token, audit the login; return the user's role names.

    One round trip where separate statements took six: during a login storm both cores are busy
    hashing, and every round trip's wake-ups take CPU from argon2 (measured: about 1% of the
    logins per second each, `scripts/bench/login_throughput.py`).
    """
    rows = await connection.fetch(
        "WITH signed_in AS ("
        "  UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = $2,"
        "   password_hash = coalesce($3, password_hash),"
        "   updated_at = CASE WHEN $3::text IS NULL THEN updated_at ELSE $2 END"
        "  WHERE id = $1"
        "), stored_token AS ("
        "  INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, expires_at,"
        "   user_agent, client_address) VALUES ($1, $4, $5, $6, $7, $8, $9)"
        "), audited AS ("
        "  INSERT INTO auth_events (event_type, user_id, client_address, user_agent, details)"
        "  VALUES ('login', $1, $9, $8, $10)"
        ")"
        " SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        " WHERE ur.user_id = $1 ORDER BY r.name",
        user_id,
        now,
        new_hash,
        REFRESH,
        token_hash,
        family_id,
        expires_at,
        user_agent,
        client_address,
        {"session": str(family_id), "rehashed": rehashed},
    )
    return [row["name"] for row in rows]


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
