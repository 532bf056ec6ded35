"""Core's side of `user_events`: recording a change the apps must hear of.

An event is written in the transaction of the change it reports, so the apps hear of every
change that committed and of none that rolled back; the table's trigger wakes them (NOTIFY, at
commit). Its time is core's clock when it is recorded, which must be after the change took its
locks (the user's row, their sessions): apps refuse the user's tokens issued up to that time,
and a token minted by a refresh or login that held those locks first is then among them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from atriz_core.client.user_events import EVENT_TYPES

__all__ = ["record_user_event"]


async def record_user_event(
    connection: asyncpg.Connection, user_id: uuid.UUID, event_type: str, *, at: datetime
) -> None:
    """Record that `user_id`'s account changed (`event_type`, one of `EVENT_TYPES`) at `at`."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown user event type {event_type!r}")
    await connection.execute(
        "INSERT INTO user_events (user_id, event_type, created_at) VALUES ($1, $2, $3)",
        user_id,
        event_type,
        at,
    )
