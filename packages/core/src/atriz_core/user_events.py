"""Core's side of `user_events`: recording a change the apps must hear of.

An event is written in the transaction of the change it reports, so the apps hear of every
change that committed and of none that rolled back; the table's trigger wakes them (NOTIFY, at
commit). Its time is core's clock when it is recorded, which must be after the change took its
locks (the user's row, their sessions): apps refuse the user's tokens issued up to that time,
and a token minted by a refresh or login that held those locks first is then among them.

A token issued after a revocation, in the same second, gets the next second as its `iat`
(`atriz_core.tokens.access`), so a second revocation within that second is stamped no earlier
than that next second: it refuses such a token too. (Tokens issued after the second one then
wait for the clock to reach it, a second at most per extra revocation.)
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atriz_core.client.revocations import UP_TO_THE_EVENT
from atriz_core.client.user_events import EVENT_TYPES

__all__ = ["newest_revocation_sql", "record_user_event"]

_REVOKING = ", ".join(f"'{kind}'" for kind in sorted(UP_TO_THE_EVENT))


def newest_revocation_sql(user_id: str) -> str:
    """SQL of the time of the newest event that refuses the tokens of the user whose id the SQL
    expression `user_id` gives (a parameter or a column of the statement); NULL if none."""
    return (
        "(SELECT max(e.created_at) FROM user_events e"
        f" WHERE e.user_id = {user_id} AND e.event_type IN ({_REVOKING}))"
    )


async def record_user_event(
    connection: asyncpg.Connection, user_id: uuid.UUID, event_type: str, *, at: datetime
) -> None:
    """Record that `user_id`'s account changed (`event_type`, one of `EVENT_TYPES`) at `at`
    (later in one case: see the module's docstring)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown user event type {event_type!r}")
    # No earlier than the second after the user's previous revocation (see the module's
    # docstring); greatest() skips the NULL when there is none.
    newest = newest_revocation_sql("$1")
    await connection.execute(
        "INSERT INTO user_events (user_id, event_type, created_at)"
        f" VALUES ($1, $2, greatest($3, date_trunc('second', {newest}) + interval '1 second'))",
        user_id,
        event_type,
        at,
    )
