"""What a user's life in `atriz_shared` means for the shop's data (the user-event policy).

- **Deleted**: the shop keeps its history. Sales, refunds and movements keep the user's id (the
  till must still balance, the ledger stays append-only), and the user is recorded in
  `removed_users`, so that sales read back with `cashier_removed: true`. A deleted customer is
  unlinked from their purchases (`customer_id` becomes null): the sale stays, the person goes.
  Their idempotency keys are dropped.
- **Deactivated**: nothing changes here (they may come back); the kit's revocation refuses
  their tokens on every worker within seconds.
"""

from __future__ import annotations

import asyncpg

from atriz_core.client.user_events import DELETED, UserEvent
from atriz_core.kit.references import repair_with

__all__ = ["apply_user_event", "repair_references"]

_REMEMBER_REMOVED = (
    "INSERT INTO removed_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING"
)
_UNLINK_CUSTOMER = "UPDATE sales SET customer_id = NULL WHERE customer_id = $1"
_FORGET_KEYS = "DELETE FROM idempotency_keys WHERE user_id = $1"


async def apply_user_event(conn: asyncpg.Connection, event: UserEvent) -> None:
    """Apply one user event (see the module docstring); other kinds are ignored."""
    if event.event_type == DELETED:
        await conn.execute(_REMEMBER_REMOVED, event.user_id)
        await conn.execute(_UNLINK_CUSTOMER, event.user_id)
        await conn.execute(_FORGET_KEYS, event.user_id)


repair_references = repair_with(apply_user_event)
"""For `db-check-refs --fix`: the same policy, for users whose event this app missed."""
