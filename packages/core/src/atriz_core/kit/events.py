"""User events applied by an app exactly once, in its own transaction with its cursor.

Core records a row in `atriz_shared.user_events` in the transaction of each change an app must
hear of (see `atriz_core.client.user_events` for the kinds) and wakes the apps at its commit.
`user_event_consumer(handler, name=...)` runs the app's policy for them (what a deletion does
to its data) while the service runs. Each batch is ONE transaction of the app's own database:
the cursor row is locked (`FOR UPDATE SKIP LOCKED`: of several workers one applies a batch, the
others move on), read again, the handler runs for each event, the new cursor is stored, and it
all commits together. A crash anywhere before the commit rolls the handler's effects back with
the cursor: nothing is applied twice and nothing is skipped. A handler that raises rolls its
batch back, and the batch is retried after a pause (logged with the event's id and kind).

The app's database needs the cursor table: `CURSOR_TABLE_SQL`, copied into one of its
migrations (with `CURSOR_TABLE_ROLLBACK_SQL` in the rollback file).

The revocation feed (`revocation_feed`, `RevocationFeed`, from `atriz_core.kit.revocation`,
re-exported here) follows the same stream in every worker. How both wake (LISTEN/NOTIFY, and a
poll) is in `atriz_core.kit.event_stream`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from litestar import Litestar

from atriz_core.client.user_events import (
    EventCursor,
    UserEvent,
    cursor_from_another_server,
    read_user_events,
)
from atriz_core.client.users import hold_for_events
from atriz_core.kit.event_stream import (
    CHANNEL,
    Lifespan,
    Outcome,
    StreamFollower,
    UserEventListener,
    pool_from_state,
    shared_listener,
)
from atriz_core.kit.revocation import REVOCATION_FEED_STATE_KEY, RevocationFeed, revocation_feed
from atriz_database import ConfigurationError

__all__ = [
    "CHANNEL",
    "CONSUMERS_STATE_KEY",
    "CURSOR_TABLE_ROLLBACK_SQL",
    "CURSOR_TABLE_SQL",
    "REVOCATION_FEED_STATE_KEY",
    "Outcome",
    "RevocationFeed",
    "UserEventConsumer",
    "UserEventHandler",
    "UserEventListener",
    "revocation_feed",
    "user_event_consumer",
]

logger = logging.getLogger(__name__)

CONSUMERS_STATE_KEY = "user_event_consumers"
"""`app.state[...]`: the service's consumers by name (their counters are the metrics)."""

CURSOR_TABLE_SQL = """\
-- Where this app is in atriz_shared.user_events (atriz_core.kit.events): one row per consumer,
-- written in the transaction that applies the events, so the two commit or roll back together.
-- `txid` is an xid8 of atriz_shared, kept as bigint (far below 2^63 in practice).
CREATE TABLE user_event_cursor (
    consumer text PRIMARY KEY,
    txid bigint NOT NULL DEFAULT 0,
    event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""
"""The cursor table: copy it into one of the app's migrations (yoyo reads plain SQL files)."""
CURSOR_TABLE_ROLLBACK_SQL = "DROP TABLE user_event_cursor;\n"
"""The matching rollback."""

UserEventHandler = Callable[[asyncpg.Connection, UserEvent], Awaitable[None]]
"""`async def handler(connection, event) -> None`: apply one event in the app's database.

`connection` is in the batch's transaction: write through it and nothing else, raise to roll
the whole batch back (it is retried). Ignore an `event_type` you do not handle: core may add
new ones. An event may arrive for a user the app has never seen, and `roles_changed` and
`sessions_revoked` are there mostly for the revocations: most apps ignore them."""

_CURSOR = "SELECT txid, event_id FROM user_event_cursor WHERE consumer = $1"
_CREATE_CURSOR = (
    "INSERT INTO user_event_cursor (consumer) VALUES ($1) ON CONFLICT (consumer) DO NOTHING"
)
_LOCK_CURSOR = f"{_CURSOR} FOR UPDATE SKIP LOCKED"
_STORE_CURSOR = (
    "UPDATE user_event_cursor SET txid = $2, event_id = $3, updated_at = now() WHERE consumer = $1"
)


class UserEventConsumer(StreamFollower):
    """Applies `user_events` to the app's database with `handler`, each event exactly once
    however many workers run it (see the module docstring).

    Metrics (plain attributes, of this worker): `applied` and `batches_applied` (counters:
    events and batches applied), `failures` (counter: rounds that failed), `lag_seconds`
    (gauge), `last_event_at` (the `created_at` of the newest event it applied).
    """

    def __init__(
        self,
        handler: UserEventHandler,
        *,
        name: str,
        own_pool: asyncpg.Pool,
        shared_pool: asyncpg.Pool,
        batch_size: int = 100,
        poll_interval: float = 2.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            poll_interval=poll_interval, max_backoff=max_backoff, label=f"user events ({name})"
        )
        self.handler = handler
        self.name = name
        self.own_pool = own_pool
        self.shared_pool = shared_pool
        self.batch_size = batch_size
        self.applied = 0
        self.batches_applied = 0
        self.last_event_at: datetime | None = None

    async def ensure_cursor(self) -> None:
        """Create this consumer's cursor row (at the stream's start) if it has none; a clear
        `ConfigurationError` if the app's database lacks the cursor table."""
        try:
            await self.own_pool.execute(_CREATE_CURSOR, self.name)
        except asyncpg.UndefinedTableError as exc:
            raise ConfigurationError(
                "the service's database has no user_event_cursor table: add"
                " atriz_core.kit.events.CURSOR_TABLE_SQL to one of its migrations"
            ) from exc

    async def stored_cursor(self) -> EventCursor:
        """The cursor as last committed (unlocked)."""
        row = await self.own_pool.fetchrow(_CURSOR, self.name)
        if row is None:
            await self.ensure_cursor()
            return EventCursor()
        return EventCursor(row["txid"], row["event_id"])

    async def _start_again(self, cursor: EventCursor) -> None:
        async with self.own_pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(_LOCK_CURSOR, self.name)
            if row is None or EventCursor(row["txid"], row["event_id"]) != cursor:
                return  # another worker is at it, or did it
            await connection.execute(_STORE_CURSOR, self.name, 0, 0)
        logger.warning(
            "%s: the cursor was taken on another server (atriz_shared restored from a dump?);"
            " applying every event again from the start",
            self.label,
        )

    async def step(self) -> Outcome:
        """Apply the next batch, if any, in one transaction with the cursor."""
        # A look without the lock first: most rounds find nothing, and need no transaction.
        cursor = await self.stored_cursor()
        events = await read_user_events(self.shared_pool, cursor, limit=self.batch_size)
        if not events:
            elsewhere = await cursor_from_another_server(self.shared_pool, cursor)
            if elsewhere is None:
                return Outcome.PENDING  # restored events core has not numbered yet
            if elsewhere:
                await self._start_again(cursor)
                return Outcome.APPLIED  # look again at once, from the start
            pending = await self.pending(self.shared_pool, cursor)
            self._oldest_waiting = None
            return Outcome.PENDING if pending else Outcome.DRAINED
        self._oldest_waiting = events[0].created_at
        async with self.own_pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(_LOCK_CURSOR, self.name)
            if row is None:
                return Outcome.BUSY
            locked = EventCursor(row["txid"], row["event_id"])
            if locked != cursor:  # another worker applied some meanwhile
                events = await read_user_events(self.shared_pool, locked, limit=self.batch_size)
                if not events:
                    return Outcome.DRAINED
            # Every write naming one of these users that checked them is waited for, and its
            # rows are found (`hold_users`).
            await hold_for_events(connection, (event.user_id for event in events))
            for event in events:
                try:
                    await self.handler(connection, event)
                except Exception:
                    # Which event stopped the batch, for the operator; not whose it is.
                    logger.warning(
                        "%s: the handler failed on event %d (%s); the batch is rolled back",
                        self.label,
                        event.id,
                        event.event_type,
                    )
                    raise
            last = events[-1]
            await connection.execute(_STORE_CURSOR, self.name, last.cursor.txid, last.cursor.id)
        self.applied += len(events)
        self.batches_applied += 1
        self.last_event_at = last.created_at
        self._oldest_waiting = None
        return Outcome.APPLIED


def user_event_consumer(
    handler: UserEventHandler,
    *,
    name: str,
    own_pool_key: str = "db_pool",
    shared_pool_key: str = "shared_pool",
    poll_interval: float = 2.0,
    batch_size: int = 100,
) -> Lifespan:
    """A lifespan that applies `user_events` with `handler` while the service runs.

    `name` names the consumer's row in `user_event_cursor` (the app's name: every worker of the
    app shares it). It comes after the pools' lifespans. The consumer is at
    `app.state["user_event_consumers"][name]`.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        shared = pool_from_state(app, shared_pool_key)
        consumer = UserEventConsumer(
            handler,
            name=name,
            own_pool=pool_from_state(app, own_pool_key),
            shared_pool=shared,
            batch_size=batch_size,
            poll_interval=poll_interval,
        )
        await consumer.ensure_cursor()
        consumers: dict[str, Any] = app.state.setdefault(CONSUMERS_STATE_KEY, {})
        consumers[name] = consumer
        async with shared_listener(app, shared) as listener, consumer.following(listener):
            yield

    return lifespan
