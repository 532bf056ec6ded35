"""The audit log (`auth_events`): logins, logouts, token reuse, password and role changes."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_core.context import RequestContext

__all__ = ["record_event"]

_INSERT = """
INSERT INTO auth_events (event_type, user_id, actor_id, client_address, user_agent, details)
VALUES ($1, $2, $3, $4, $5, $6)
"""


async def record_event(
    connection: asyncpg.Connection,
    event_type: str,
    *,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    context: RequestContext | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event. Never put a password, token or hash in `details`."""
    await connection.execute(
        _INSERT,
        event_type,
        user_id,
        actor_id,
        context.client_address if context else None,
        context.user_agent if context else None,
        details or {},
    )
