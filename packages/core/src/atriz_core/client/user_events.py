"""Reading `user_events` (deactivations, reactivations, deletions) without ever missing one.

An app keeps an `EventCursor` of its own (in its own database, written in the same transaction
as the effects of the events it applied) and calls `read_user_events` with it; the events come
in the order their transactions finished, and none that commits later can sort before the
cursor, so no event is skipped even when core commits two of them out of id order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = ["EventCursor", "UserEvent", "read_user_events"]

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
    """`deactivated`, `reactivated` or `deleted`."""
    created_at: datetime
    cursor: EventCursor
    """The cursor to store once this event has been applied."""


async def read_user_events(
    shared: asyncpg.Pool | asyncpg.Connection, after: EventCursor, *, limit: int = 500
) -> list[UserEvent]:
    """The next events after `after`, at most `limit`, oldest first."""
    rows = await shared.fetch(_READ, str(after.txid), after.id, limit)
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
