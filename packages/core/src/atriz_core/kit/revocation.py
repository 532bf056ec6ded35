"""Revocation within seconds: every worker keeps `Revocations` from `user_events`.

`revocation_feed(revocations)` is a lifespan that keeps the `Revocations` the service's
`TokenVerifier` holds up to date: per user, the time up to which their access tokens are
refused (see `atriz_core.client.revocations` for the rule). Every worker runs its own, with a
cursor in memory that starts `revocations.horizon_seconds` back (an access token's longest
life and the verifiers' leeway), so a worker that just started knows the recent revocations;
unlike the consumer it needs no table and no lock, since taking an event in twice, or out of
order, changes nothing. It wakes on core's notification and polls as well (see
`atriz_core.kit.event_stream`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from litestar import Litestar

from atriz_core.client.revocations import Revocations
from atriz_core.client.user_events import EventCursor, cursor_from_another_server, read_user_events
from atriz_core.kit.event_stream import (
    Lifespan,
    Outcome,
    StreamFollower,
    pool_from_state,
    shared_listener,
)

__all__ = ["REVOCATION_FEED_STATE_KEY", "RevocationFeed", "revocation_feed"]

logger = logging.getLogger(__name__)

REVOCATION_FEED_STATE_KEY = "revocation_feed"
"""`app.state[...]`: the worker's `RevocationFeed` (its counters are the metrics)."""

# Where a new feed starts: the first transaction with an event of the last minutes, or the
# oldest transaction still running if that is older (its events are not visible yet).
_START = (
    "SELECT (SELECT txid::text FROM user_events WHERE created_at >= $1"
    " ORDER BY txid LIMIT 1) AS first_txid,"
    " pg_snapshot_xmin(pg_current_snapshot())::text AS xmin"
)


class RevocationFeed(StreamFollower):
    """Keeps `revocations` up to date from `user_events`, with a cursor in memory that starts
    `revocations.horizon_seconds` back.

    Metrics (plain attributes): `applied` (counter: events taken in), `failures` (counter),
    `lag_seconds` (gauge), `revocations_known` (gauge: users whose tokens are refused now),
    `caught_up` (the first catch-up has completed: the recent revocations are known).
    """

    def __init__(
        self,
        revocations: Revocations,
        *,
        shared_pool: asyncpg.Pool,
        batch_size: int = 500,
        poll_interval: float = 2.0,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            poll_interval=poll_interval, max_backoff=max_backoff, label="revocation feed"
        )
        self.revocations = revocations
        self.shared_pool = shared_pool
        self.batch_size = batch_size
        self.cursor: EventCursor | None = None
        self.applied = 0
        self.caught_up = False
        self._clock = clock

    @property
    def revocations_known(self) -> int:
        """Users whose tokens are refused now (a gauge)."""
        return len(self.revocations)

    async def _start_cursor(self) -> EventCursor:
        since = datetime.fromtimestamp(self._clock() - self.revocations.horizon_seconds, UTC)
        row = await self.shared_pool.fetchrow(_START, since)
        start = int(row["xmin"])
        if row["first_txid"] is not None:
            start = min(start, int(row["first_txid"]))
        # id 0: every event of the start transaction is after it.
        return EventCursor(start, 0)

    async def step(self) -> Outcome:
        """Take in the next batch of events.

        The cursor moves over settled events only (none can come before them any more); when
        none is left, the events committed behind a transaction still running are taken in
        too, without moving the cursor, so that a long transaction anywhere on the server
        does not hold a revocation back. They are read again once settled: taking one in
        twice changes nothing.
        """
        if self.cursor is None:
            self.cursor = await self._start_cursor()
        self.revocations.forget_expired()
        events = await read_user_events(self.shared_pool, self.cursor, limit=self.batch_size)
        if events:
            self._oldest_waiting = events[0].created_at
            for event in events:
                self.revocations.apply(event)
            self.cursor = events[-1].cursor
            self.applied += len(events)
            return Outcome.APPLIED
        ahead, unsettled = self.cursor, 0
        while True:
            batch = await read_user_events(
                self.shared_pool, ahead, limit=self.batch_size, settled=False
            )
            for event in batch:
                self.revocations.apply(event)
            unsettled += len(batch)
            if len(batch) < self.batch_size:
                break
            ahead = batch[-1].cursor
        self._oldest_waiting = None
        self.caught_up = True
        if not unsettled and await cursor_from_another_server(self.shared_pool, self.cursor):
            logger.warning(
                "revocation feed: the cursor was taken on another server (atriz_shared restored"
                " from a dump?); reading every event again"
            )
            self.cursor = EventCursor()
            return Outcome.APPLIED
        return Outcome.PENDING if unsettled else Outcome.DRAINED

    async def catch_up(self) -> None:
        """Read until every committed event is taken in."""
        while await self.step() is Outcome.APPLIED:
            pass


def revocation_feed(
    revocations: Revocations,
    *,
    shared_pool_key: str = "shared_pool",
    poll_interval: float = 2.0,
    start_timeout: float = 5.0,
) -> Lifespan:
    """A lifespan that keeps `revocations` (the one the service's `TokenVerifier` holds) up to
    date from `user_events` while the service runs.

    At start-up it reads the last 15 minutes of events before the service takes requests (at
    most `start_timeout` seconds; without `atriz_shared` it starts anyway, logs it, and keeps
    trying in the background). The feed is at `app.state["revocation_feed"]`.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        shared = pool_from_state(app, shared_pool_key)
        feed = RevocationFeed(revocations, shared_pool=shared, poll_interval=poll_interval)
        app.state[REVOCATION_FEED_STATE_KEY] = feed
        try:
            async with asyncio.timeout(start_timeout):
                await feed.catch_up()
        except Exception as exc:  # start serving anyway: verification does not need atriz_shared
            logger.warning(
                "revocations not loaded at start-up (%s); retrying in the background",
                type(exc).__name__,
            )
        async with shared_listener(app, shared) as listener, feed.following(listener):
            yield

    return lifespan
