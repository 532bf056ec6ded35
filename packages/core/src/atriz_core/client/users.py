"""Checking user references: apps hold user ids from `atriz_shared` with no foreign key, so they
check, in a write, that each referenced user exists and is active, and hold the user until the
write commits (`hold_users`); the app's user-event consumer holds the users of a batch of
events before it applies them (`hold_for_events`), so a user's deletion never passes a write
that names them.

The holds are transaction-level advisory locks of the app's database, one per user (64 bits of
a hash of the id: two users sharing one only wait for each other): shared for writes, which
then never wait for each other (two tills of one cashier), exclusive for the consumer. Both
take theirs in id order, before any row lock, so neither can deadlock the other."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from atriz_core.errors import AuthenticationError, FieldProblem, InvalidInputError

__all__ = [
    "UnknownUserError",
    "check_users",
    "hold_for_events",
    "hold_users",
    "missing_users",
]

ACCOUNT_GONE = "the signed-in account is no longer active"
_KEY = "hashtextextended('atriz.user:' || id::text, 0)"
_HOLD_FOR_WRITE = f"SELECT count(pg_advisory_xact_lock_shared({_KEY})) FROM unnest($1::uuid[]) id"
_HOLD_FOR_EVENTS = f"SELECT count(pg_advisory_xact_lock({_KEY})) FROM unnest($1::uuid[]) id"

# Readable through the least-privilege app role: it sees only these user columns.
_ACTIVE_USERS = """
SELECT id FROM users
WHERE id = ANY($1::uuid[]) AND is_active AND deleted_at IS NULL
"""


class UnknownUserError(InvalidInputError):
    """A referenced user does not exist or is not active; apps answer it with 422."""

    def __init__(self, field: str, missing: list[uuid.UUID]) -> None:
        reason = "refers to no active user: " + ", ".join(str(m) for m in missing)
        super().__init__(f"{field} {reason}", [FieldProblem(field, reason)])
        self.field = field
        self.missing = missing


async def missing_users(
    shared: asyncpg.Pool | asyncpg.Connection, user_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    """The ids among `user_ids` that are not active users, in one query, in input order."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    rows = await shared.fetch(_ACTIVE_USERS, wanted)
    found = {row["id"] for row in rows}
    return [user_id for user_id in wanted if user_id not in found]


async def hold_for_events(conn: asyncpg.Connection, user_ids: Iterable[uuid.UUID]) -> None:
    """Hold `user_ids` alone until `conn`'s transaction ends: what the user-event consumer does
    before it applies a batch of their events, after every write that holds one of them."""
    await _hold(conn, _HOLD_FOR_EVENTS, user_ids)


async def _hold(
    conn: asyncpg.Connection, sql: str, user_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    if not conn.is_in_transaction():
        raise RuntimeError("a user is held for a transaction: open one first")
    held = sorted(set(user_ids))
    await conn.execute(sql, held)
    return held


async def hold_users(
    conn: asyncpg.Connection,
    shared: asyncpg.Pool | asyncpg.Connection,
    user_ids: Iterable[uuid.UUID],
    *,
    field: str = "user_id",
    signed_in: uuid.UUID | None = None,
    checked_later: Iterable[uuid.UUID] = (),
) -> None:
    """In a write's transaction on `conn` (the app's database): hold each user, and the
    `signed_in` one, until it commits, then check each is an active user in `atriz_shared`;
    `UnknownUserError` naming `field` if one is not, `AuthenticationError` if the signed-in
    user is not (deleted or deactivated a moment ago).

    A deletion the app applied before the hold is seen by the check (core committed it before
    the app read its event); one applied after waits for this write to commit, then finds its
    rows. Checked without the hold, a row written between the check and the commit outlived the
    deletion: its policy had run already. Call it before the write locks any row, once:
    `checked_later` are held in the same sorted hold (two holds could deadlock with the
    consumer) and checked by the caller (`check_users`)."""
    referenced = list(user_ids)
    signed = [signed_in] if signed_in else []
    await _hold(conn, _HOLD_FOR_WRITE, [*referenced, *signed, *checked_later])
    await check_users(shared, referenced + signed, field=field, signed_in=signed_in)


async def check_users(
    shared: asyncpg.Pool | asyncpg.Connection,
    user_ids: Iterable[uuid.UUID],
    *,
    field: str = "user_id",
    signed_in: uuid.UUID | None = None,
) -> None:
    """The check of `hold_users`, for users it held as `checked_later`: after an idempotency
    key has been claimed, say, so that a retry replays whatever became of them since."""
    missing = await missing_users(shared, user_ids)
    if signed_in in missing:
        raise AuthenticationError(ACCOUNT_GONE)
    if missing:
        raise UnknownUserError(field, missing)
