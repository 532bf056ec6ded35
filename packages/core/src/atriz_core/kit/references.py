"""An app's user references, declared once for `db-check-refs` and repaired by its own policy.

An app's database target lists its `user_id` columns with `user_reference(...)`, and points
`repair=` at a function made by `repair_with(policy)` from the same user-event policy its
consumer runs:

    # db.py
    target = DatabaseTarget(
        ...,
        references=(user_reference("vehicles.owner_id"),),
        repair="atriz_mextrack.users:repair_references",
    )

    # users.py
    async def apply_user_event(conn: asyncpg.Connection, event: UserEvent) -> None: ...
    repair_references = repair_with(apply_user_event)

`uv run db-check-refs all` then lists, per column, the ids of users that are not in
`atriz_shared` or are deleted there; `--fix` applies the app's deletion policy to each of them
(an event the app missed, say because its database was restored from an older backup), and
checks again. A policy must clear a deleted user's id from each declared column, or, where the
app keeps it as history (a removed cashier's sales), record the id in a table of its own named
by `kept_in`; otherwise the check reports it for ever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atriz_core.client.user_events import DELETED, EventCursor, UserEvent
from atriz_core.client.users import hold_for_events
from atriz_database import Reference
from atriz_database.pool import connect

if TYPE_CHECKING:  # not at run time: an app's db.py imports this, and the db-* commands with it
    from atriz_core.kit.events import UserEventHandler

__all__ = ["repair_with", "user_reference"]


def user_reference(column: str, *, kept_in: str | None = None) -> Reference:
    """`table.column` of the app's database holding ids of users in `atriz_shared`; a user
    deleted there (`deleted_at` set) counts as gone, as one never there does. `kept_in`: the
    app's own `table.column` of removed users whose ids its policy keeps in `column` as history
    (not reported)."""
    return Reference(
        column,
        target="core",
        referenced="users.id",
        live_when="deleted_at IS NULL",
        kept_in=kept_in,
    )


def repair_with(policy: UserEventHandler) -> Callable[[str, Sequence[Any]], None]:
    """A `DatabaseTarget.repair` function: `policy` applied to each id as that user's deletion,
    each in a transaction of its own (one user's failure leaves the others repaired)."""

    def repair(url: str, ids: Sequence[Any]) -> None:
        asyncio.run(_apply_deletions(policy, url, [uuid.UUID(str(value)) for value in ids]))

    return repair


async def _apply_deletions(policy: UserEventHandler, url: str, ids: list[uuid.UUID]) -> None:
    connection = await connect(url)
    try:
        for user_id in ids:
            # Not from the event stream: no id of its own, and no cursor to move.
            event = UserEvent(
                id=0,
                user_id=user_id,
                event_type=DELETED,
                created_at=datetime.now(UTC),
                cursor=EventCursor(),
            )
            async with connection.transaction():
                await hold_for_events(connection, [user_id])  # as the consumer does
                await policy(connection, event)
    finally:
        await connection.close()
