"""Reading `user_events` (deactivations, reactivations, deletions, ended sessions and changed
roles) without ever missing one.

An app keeps an `EventCursor` of its own (in its own database, written in the same transaction
as the effects of the events it applied) and calls `read_user_events` with it; the events come
in the order their transactions finished, and none that commits later can sort before the
cursor, so no event is skipped even when core commits two of them out of id order.
`atriz_core.kit.events` does all of that for a service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "DEACTIVATED",
    "DELETED",
    "EVENT_TYPES",
    "REACTIVATED",
    "RENUMBER_RESTORED_SQL",
    "ROLES_CHANGED",
    "SESSIONS_REVOKED",
    "EventCursor",
    "UserEvent",
    "cursor_from_another_server",
    "read_user_events",
    "renumber_restored_events",
]

DEACTIVATED = "deactivated"
"""The user can no longer sign in; their sessions have ended."""
REACTIVATED = "reactivated"
"""The user can sign in again (tokens from before the deactivation stay refused)."""
DELETED = "deleted"
"""The account is gone for good (soft-deleted: the row stays for references)."""
SESSIONS_REVOKED = "sessions_revoked"
"""The user's sessions ended: logout everywhere, a password change or a password reset."""
ROLES_CHANGED = "roles_changed"
"""A role was granted to the user or taken away: tokens issued before carry the old roles."""
EVENT_TYPES = frozenset({DEACTIVATED, REACTIVATED, DELETED, SESSIONS_REVOKED, ROLES_CHANGED})

# Only transactions older than the oldest one still running: every event that sorts before the
# returned ones is already visible. `txid` travels as text (asyncpg has no xid8 codec).
_READ = """
SELECT id, txid::text AS txid, user_id, event_type, created_at
FROM user_events
WHERE (txid, id) > ($1::text::xid8, $2)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, id
LIMIT $3
"""
# Every committed event after the cursor, also those an older running transaction may yet
# gain a neighbour before.
_READ_UNSETTLED = """
SELECT id, txid::text AS txid, user_id, event_type, created_at
FROM user_events
WHERE (txid, id) > ($1::text::xid8, $2)
ORDER BY txid, id
LIMIT $3
"""

# Transaction ids only grow on one server: a cursor past the next one to be given was taken on
# another (atriz_shared restored from a dump onto a new server, whose ids start low). Strictly
# past: a reader's start may be the next id itself on a quiet server.
_FROM_ANOTHER_SERVER = """
SELECT $1::text::xid8 > pg_snapshot_xmax(pg_current_snapshot()) AS ahead,
       EXISTS (SELECT FROM user_events WHERE txid >= pg_snapshot_xmax(pg_current_snapshot()))
           AS unnumbered
"""
RENUMBER_RESTORED_SQL = """
SELECT pg_advisory_xact_lock(hashtext('atriz.user_events.renumber'));
UPDATE user_events SET txid = pg_current_xact_id()
WHERE txid >= pg_snapshot_xmax(pg_current_snapshot());
"""
"""What `db-restore` runs in a restored `atriz_shared`, and core as it starts (for a restore by
hand): the events whose transaction ids this server has not reached, restored from a dump of
another server, take this transaction's, after every event recorded before and before every
one recorded after, in the order of their ids (which, for one user's events, is the order they
were made in: each was made holding the user's row). Left so, they would stay hidden from
every settled reader until this server's ids passed theirs. On the server the dump came from,
or one further on, there is none: every event keeps its place, and the apps their cursors.
One transaction at a time (core's processes start together): the next one's UPDATE, whose
snapshot is taken after the lock, finds nothing left to move; without the lock it moved the
same events again, after events recorded in between."""


@dataclass(frozen=True)
class EventCursor:
    """Where an app is in the event stream; the start is `EventCursor()`."""

    txid: int = 0
    id: int = 0


@dataclass(frozen=True)
class UserEvent:
    id: int
    user_id: uuid.UUID
    event_type: str
    """One of `EVENT_TYPES`; an app ignores a type it does not know (core may add more)."""
    created_at: datetime
    """When core made the change, by core's clock (the clock of the tokens' `iat`)."""
    cursor: EventCursor
    """The cursor to store once this event has been applied."""


async def read_user_events(
    shared: asyncpg.Pool | asyncpg.Connection,
    after: EventCursor,
    *,
    limit: int = 500,
    settled: bool = True,
) -> list[UserEvent]:
    """The next events after `after`, at most `limit`, oldest first.

    `settled=False` also gives the events committed behind a transaction still running, as
    soon as they commit: an event that commits later may then sort before them, so a reader
    must not move its cursor past them. For readers whose effects may be repeated in any
    order (the revocations), which must not wait for a long transaction elsewhere.
    """
    query = _READ if settled else _READ_UNSETTLED
    rows = await shared.fetch(query, str(after.txid), after.id, limit)
    return [
        UserEvent(
            id=row["id"],
            user_id=row["user_id"],
            event_type=row["event_type"],
            created_at=row["created_at"],
            cursor=EventCursor(int(row["txid"]), row["id"]),
        )
        for row in rows
    ]


async def cursor_from_another_server(
    shared: asyncpg.Pool | asyncpg.Connection, cursor: EventCursor
) -> bool | None:
    """Whether `cursor` was taken on the server `atriz_shared` was on before a restore from a
    dump onto this one: every event this server records sorts before it, and would be skipped
    until its transaction ids caught up (a deletion never applied, a revocation never heard
    of). None while the restored events are not numbered yet (`RENUMBER_RESTORED_SQL`): a
    reader then waits. A reader whose cursor came from another server starts
    again from `EventCursor()`: every restored event is applied again, in order, then the new
    ones."""
    row = await shared.fetchrow(_FROM_ANOTHER_SERVER, str(cursor.txid))
    if not row["ahead"]:
        return False
    return None if row["unnumbered"] else True


async def renumber_restored_events(connection: asyncpg.Connection | asyncpg.Pool) -> int:
    """`RENUMBER_RESTORED_SQL`; how many events it renumbered."""
    status: str = await connection.execute(RENUMBER_RESTORED_SQL)
    return int(status.split()[-1])
