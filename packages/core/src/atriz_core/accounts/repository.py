"""SQL of the accounts feature: one function per statement.

A user's row and roles, which admin and the test kit use too, are `atriz_core.users.repository`'s;
here are what registration, sign-in and the links do beyond them: a login's bookings on the
account, the tokens of `auth_tokens`, a new password, a verified address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from atriz_core.users.repository import USER_FIELDS, UserRecord, user_record

__all__ = [
    "BROWSER_SESSION",
    "EMAIL_VERIFICATION",
    "PASSWORD_RESET",
    "REFRESH",
    "Lockout",
    "LoginAttempt",
    "StoredToken",
    "get_token_for_update",
    "insert_token",
    "mark_email_verified",
    "mark_token_used",
    "reserve_login_attempt",
    "reserve_password_check",
    "revoke_user_tokens",
    "settle_password_check",
    "start_session",
    "update_password",
]

# The kinds of `auth_tokens`.
REFRESH, EMAIL_VERIFICATION, PASSWORD_RESET = "refresh", "email_verification", "password_reset"
BROWSER_SESSION = "browser_session"
"""The cookie of a browser's session at core (its sign-in page)."""


@dataclass(frozen=True)
class StoredToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID | None
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Lockout:
    """How failed password checks lock an account: from the `max_failures`-th failure in a
    row on, for `base_seconds`, doubling with each further failure up to `max_seconds`."""

    max_failures: int
    base_seconds: int
    max_seconds: int


@dataclass(frozen=True)
class LoginAttempt:
    """What a login learnt and booked before hashing.

    `booking` is the number of this attempt's booking on the account (`users.login_bookings`),
    which `start_session` hands back, and `failures` the account's failure count including this
    attempt, booked in advance as a failure; both are None when no check of the real hash is
    allowed (unknown, inactive or locked account, or the address refused). `address_admitted`
    is false when the address is over its limit; `address_window_started_at` then says when its
    window began.
    """

    user: UserRecord | None
    booking: int | None
    failures: int | None
    address_admitted: bool
    address_window_started_at: datetime | None


def _book_failure(now: str, lockout: str) -> str:
    """SET clause booking one more failure of `users u`: the count goes up, and from the
    `max_failures`-th on the account locks. `now` and `lockout` name the statement's
    parameters: the time, and the first of three holding the `Lockout`'s fields in order."""
    position = int(lockout.lstrip("$"))
    max_failures, base, cap = (f"${position + i}" for i in range(3))
    return (
        "login_bookings = u.login_bookings + 1, failed_login_count = u.failed_login_count + 1,"
        f" locked_until = CASE WHEN u.failed_login_count + 1 >= {max_failures}"
        f" THEN {now}::timestamptz + make_interval(secs => least({cap}::float8,"
        f"  {base}::float8 * power(2, least(u.failed_login_count + 1 - {max_failures}, 30))))"
        " ELSE u.locked_until END"
    )


async def reserve_login_attempt(
    connection: asyncpg.Connection,
    email: str,
    address: str | None,
    now: datetime,
    *,
    lockout: Lockout,
    address_max_failures: int,
    address_window_seconds: int,
) -> LoginAttempt:
    """Book this login as a failure of its address and of its account before any hashing, in
    one statement, and read the account.

    Booking first is what makes the limits hold under concurrency: each concurrent attempt
    increments the counters atomically (row locks, re-checked on the newest row version), so
    at most `address_max_failures` attempts per window pass the address, and at most
    `lockout.max_failures` reach the real hash before the lock is in force. A success gives its
    booking back (`start_session`).
    """
    columns = ", ".join(f"u.{field}" for field in USER_FIELDS)
    row = await connection.fetchrow(
        "WITH address AS ("
        "  INSERT INTO login_throttle AS t (client_address, failures, window_started_at)"
        "  SELECT $2, 1, $3 WHERE $2::text IS NOT NULL"
        "  ON CONFLICT (client_address) DO UPDATE SET"
        "   failures = CASE WHEN t.window_started_at > $3::timestamptz - make_interval(secs => $4)"
        "    THEN t.failures + 1 ELSE 1 END,"
        "   window_started_at = CASE"
        "    WHEN t.window_started_at > $3::timestamptz - make_interval(secs => $4)"
        "    THEN t.window_started_at ELSE $3::timestamptz END"
        "  WHERE t.failures < $5"
        "   OR t.window_started_at <= $3::timestamptz - make_interval(secs => $4)"
        "  RETURNING failures"
        "), admitted AS ("
        "  SELECT $2::text IS NULL OR EXISTS (SELECT FROM address) AS ok"
        "), account AS ("
        f"  UPDATE users u SET {_book_failure('$3', '$6')}"
        "  FROM admitted"
        "  WHERE admitted.ok AND u.email = $1 AND u.is_active AND u.deleted_at IS NULL"
        "   AND (u.locked_until IS NULL OR u.locked_until <= $3)"
        "  RETURNING u.login_bookings, u.failed_login_count"
        ")"
        f" SELECT {columns}, (SELECT login_bookings FROM account) AS booking,"
        "  (SELECT failed_login_count FROM account) AS failures,"
        "  admitted.ok AS address_admitted, t.window_started_at"
        " FROM admitted"
        " LEFT JOIN users u ON u.email = $1"
        " LEFT JOIN login_throttle t ON t.client_address = $2",
        email,
        address,
        now,
        float(address_window_seconds),
        address_max_failures,
        lockout.max_failures,
        float(lockout.base_seconds),
        float(lockout.max_seconds),
    )
    assert row is not None  # `admitted` always has its one row
    return LoginAttempt(
        user=user_record(row),
        booking=row["booking"],
        failures=row["failures"],
        address_admitted=row["address_admitted"],
        address_window_started_at=row["window_started_at"],
    )


async def reserve_password_check(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime, lockout: Lockout
) -> int | None:
    """Book a check of a signed-in user's current password as a failure, like a login does,
    and return the booking's number; None when the account is locked (or inactive) and the
    password must not be checked."""
    booking: int | None = await connection.fetchval(
        f"UPDATE users u SET {_book_failure('$2', '$3')}"
        " WHERE u.id = $1 AND u.is_active AND u.deleted_at IS NULL"
        "  AND (u.locked_until IS NULL OR u.locked_until <= $2)"
        " RETURNING u.login_bookings",
        user_id,
        now,
        lockout.max_failures,
        float(lockout.base_seconds),
        float(lockout.max_seconds),
    )
    return booking


# A success gives its booking back: the count is cleared (and any lock lifted) only if no other
# attempt was booked after this one (`login_bookings` never goes down, so it cannot come back
# to the same value); otherwise only this attempt's own booking is taken off, so a lock that a
# concurrent failure set stays in force. ($1 user, $2 the booking's number.)
_SETTLE = (
    "failed_login_count = CASE WHEN login_bookings = $2 THEN 0"
    " ELSE greatest(failed_login_count - 1, 0) END,"
    " locked_until = CASE WHEN login_bookings = $2 THEN NULL ELSE locked_until END"
)


async def settle_password_check(
    connection: asyncpg.Connection, user_id: uuid.UUID, booking: int
) -> None:
    await connection.execute(f"UPDATE users SET {_SETTLE} WHERE id = $1", user_id, booking)


async def start_session(
    connection: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    booking: int,
    verified_hash: str,
    now: datetime,
    new_hash: str | None,
    address: str | None,
    session_id: uuid.UUID,
    session_expires_at: datetime,
    token_hash: bytes,
    token_expires_at: datetime,
    user_agent: str | None,
    client_address: str | None,
    rehashed: bool,
    token_type: str = REFRESH,
) -> list[str] | None:
    """A successful login, as one atomic statement: give back the attempt's bookings on its
    address and its account (see `_SETTLE`), store a rehash, open the session with its first
    token (a refresh token, or a browser session's cookie: `token_type`), audit the login;
    return the user's role names.
    None, and nothing written, if the account was deactivated, deleted or given a new password
    while its password was being checked.

    One round trip where separate statements took six: during a login storm both cores are busy
    hashing, and every round trip's wake-ups take CPU from argon2 (measured: about 1% of the
    logins per second each, `scripts/bench/login_throughput.py`).
    """
    # Rows are locked in the order `reserve_login_attempt` locks them, the address's first (the
    # account's update waits on it through its condition), or the two statements deadlock.
    row = await connection.fetchrow(
        "WITH address_refunded AS ("
        "  UPDATE login_throttle SET failures = greatest(failures - 1, 0)"
        "  WHERE client_address = $13 RETURNING 1"
        "), signed_in AS ("
        f"  UPDATE users SET {_SETTLE}, last_login_at = $3,"
        "   password_hash = coalesce($5, password_hash),"
        "   updated_at = CASE WHEN $5::text IS NULL THEN updated_at ELSE $3 END"
        "  WHERE id = $1 AND is_active AND deleted_at IS NULL AND password_hash = $4"
        "   AND (SELECT count(*) FROM address_refunded) >= 0"
        "  RETURNING id"
        "), opened AS ("
        "  INSERT INTO sessions (id, user_id, created_at, expires_at)"
        "  SELECT $6, id, $3, $7 FROM signed_in"
        "), stored_token AS ("
        "  INSERT INTO auth_tokens (user_id, token_type, token_hash, family_id, generation,"
        "   expires_at, user_agent, client_address)"
        "  SELECT id, $14, $8, $6, CASE WHEN $14 = 'refresh' THEN 1 END, $9, $10, $11"
        "  FROM signed_in"
        "), audited AS ("
        "  INSERT INTO auth_events (event_type, user_id, client_address, user_agent, details)"
        "  SELECT 'login', id, $11, $10, $12 FROM signed_in"
        ")"
        # The roles are read once `signed_in` holds the user's row, with a snapshot taken then
        # (`user_role_names` is VOLATILE): a role change that held the row is seen committed.
        " SELECT EXISTS (SELECT FROM signed_in) AS signed_in,"
        "  (SELECT user_role_names(id) FROM signed_in) AS roles",
        user_id,
        booking,
        now,
        verified_hash,
        new_hash,
        session_id,
        session_expires_at,
        token_hash,
        token_expires_at,
        user_agent,
        client_address,
        {"session": str(session_id), "rehashed": rehashed, "kind": token_type},
        address,
        token_type,
    )
    assert row is not None
    return list(row["roles"]) if row["signed_in"] else None


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
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    password_hash: str,
    now: datetime,
    *,
    replacing: str | None = None,
) -> bool:
    """Store a new password hash; with `replacing`, only if that is still the stored one (False
    otherwise: the password changed since it was checked)."""
    status: str = await connection.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3"
        " WHERE id = $1 AND ($4::text IS NULL OR password_hash = $4)",
        user_id,
        password_hash,
        now,
        replacing,
    )
    return status.endswith(" 1")


async def mark_email_verified(
    connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime
) -> None:
    await connection.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, $2), updated_at = $2"
        " WHERE id = $1",
        user_id,
        now,
    )
