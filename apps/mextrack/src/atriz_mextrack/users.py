"""What a user's deletion or deactivation means for their vehicles (the user-event policy).

- **Deleted**: their vehicles are deactivated, their device tokens revoked and their owner
  cleared (NULL); the vehicles and their whole history stay, and a dispatcher or an admin may
  reassign them to another user (then activate them).
- **Deactivated**: their vehicles are marked `owner_suspended_at` and accept no positions
  (409), from their tokens or anyone's, until the owner is **reactivated**, which clears it.
  Nothing else changes. (The user's own access tokens are refused at once by the kit's
  revocation feed; this covers the trackers' device tokens.)

Applied by the kit's consumer, each event exactly once, in one transaction with its cursor.
"""

from __future__ import annotations

import asyncpg

from atriz_core.client.user_events import DEACTIVATED, DELETED, REACTIVATED, UserEvent
from atriz_core.kit.references import repair_with
from atriz_mextrack.devices import repository as devices

__all__ = ["apply_user_event", "repair_references"]

_ORPHAN = """
UPDATE vehicles SET status = 'inactive', owner_id = NULL, owner_suspended_at = NULL,
                    updated_at = now()
WHERE owner_id = $1
RETURNING id
"""
_SUSPEND = """
UPDATE vehicles SET owner_suspended_at = $2, updated_at = now()
WHERE owner_id = $1 AND owner_suspended_at IS NULL
"""
_RESUME = """
UPDATE vehicles SET owner_suspended_at = NULL, updated_at = now()
WHERE owner_id = $1 AND owner_suspended_at IS NOT NULL
"""


async def apply_user_event(conn: asyncpg.Connection, event: UserEvent) -> None:
    """Apply one user event to mextrack's data (see the module docstring)."""
    if event.event_type == DELETED:
        rows = await conn.fetch(_ORPHAN, event.user_id)
        await devices.revoke_tokens_of_vehicles(conn, [row["id"] for row in rows])
    elif event.event_type == DEACTIVATED:
        await conn.execute(_SUSPEND, event.user_id, event.created_at)
    elif event.event_type == REACTIVATED:
        await conn.execute(_RESUME, event.user_id)


repair_references = repair_with(apply_user_event)
"""For `db-check-refs --fix`: the same policy, for users whose event this app missed."""
