"""Following `atriz_shared.user_events` in a worker: the machinery under the user-event
consumer (`atriz_core.kit.events`) and the revocation feed (`atriz_core.kit.revocation`).

Core's trigger sends `NOTIFY atriz_user_events` when a transaction that recorded events commits
(with an empty payload). A worker holds one connection of its shared pool with `LISTEN` on that
channel (`UserEventListener`), re-established when lost, and every follower it wakes reads the
table at once; followers also poll every `poll_interval` seconds, in case a notification was
missed (the listener was reconnecting, the server restarted). When the shared pool goes through
PgBouncer, the listener holds a connection straight to PostgreSQL instead (`listen_pool`), and
without one the followers only poll.

An event is "settled" (`read_user_events`) once no transaction older than its own is still
running anywhere on the server: until then one that commits later may sort before it. When a
round finds events after the cursor that are not settled yet, it looks again shortly (50 ms,
doubling up to the poll interval) rather than at the next poll.

A round that fails is logged (the kind of error, never a user's data) and retried after a pause
that doubles up to `max_backoff`; notifications do not cut that pause short.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

import asyncpg
from litestar import Litestar

from atriz_core.client.user_events import EventCursor
from atriz_database import ConfigurationError

__all__ = [
    "CHANNEL",
    "LISTEN_POOL_KEY",
    "Lifespan",
    "Outcome",
    "StreamFollower",
    "UserEventListener",
    "pool_from_state",
    "shared_listener",
]

logger = logging.getLogger(__name__)

CHANNEL = "atriz_user_events"
LISTEN_POOL_KEY = "listen_pool"
"""`app.state[...]`: a pool straight to `atriz_shared`, for the `LISTEN` alone, when the shared
pool goes through PgBouncer (`<PREFIX>_SHARED_DIRECT_URL`)."""
_LISTENER_STATE_KEY = "user_event_listener"

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]

# Events after the cursor that `read_user_events` does not give yet: their transaction, or an
# older one, is still running.
_PENDING = "SELECT EXISTS (SELECT FROM user_events WHERE (txid, id) > ($1::text::xid8, $2))"


class Outcome(enum.Enum):
    """What one round of reading the stream found."""

    APPLIED = "applied"
    """Events were taken in; there may be more: look again at once."""
    DRAINED = "drained"
    """Nothing after the cursor."""
    PENDING = "pending"
    """Events after the cursor, not settled yet (a transaction before them is running)."""
    BUSY = "busy"
    """Another worker holds the cursor and is applying them."""


class UserEventListener:
    """`LISTEN atriz_user_events` on one connection of the shared pool, held for the worker's
    life; wakes its subscribers on each notification, and when (re)connected, since events
    may have come while it was not listening."""

    def __init__(self, pool: asyncpg.Pool, *, keepalive_seconds: float = 15.0) -> None:
        self.pool = pool
        self.keepalive_seconds = keepalive_seconds
        self.connected = False
        """Listening now (a gauge)."""
        self.notifications = 0
        """Notifications received (a counter)."""
        self.connections = 0
        """Times the listening connection was established (a counter; above 1: it was lost)."""
        self._wakers: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self._users = 0

    def subscribe(self, wake: asyncio.Event) -> None:
        self._wakers.add(wake)

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._wakers.discard(wake)

    def _wake_all(self) -> None:
        for wake in self._wakers:
            wake.set()

    def _notified(self, *_: object) -> None:
        self.notifications += 1
        self._wake_all()

    @asynccontextmanager
    async def in_use(self) -> AsyncIterator[UserEventListener]:
        """Listening while any user is inside; one connection however many use it."""
        self._users += 1
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="user-event-listener")
        try:
            yield self
        finally:
            self._users -= 1
            if self._users == 0 and self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
                self._task = None

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                await self._hold_connection()
                failures = 0
                logger.warning("the user-event listening connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: try again, never take the service down
                failures += 1
                pause = min(30.0, 0.5 * 2**failures)
                logger.warning(
                    "cannot listen for user events (%s); retrying in %.0f s",
                    type(exc).__name__,
                    pause,
                )
                await asyncio.sleep(pause)

    async def _hold_connection(self) -> None:
        """Listen until the connection is lost (returns) or fails (raises)."""
        lost = asyncio.Event()

        def on_lost(_: object) -> None:
            lost.set()

        async with self.pool.acquire() as connection:
            connection.add_termination_listener(on_lost)
            try:
                await connection.add_listener(CHANNEL, self._notified)
                self.connected = True
                self.connections += 1
                self._wake_all()
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(self.keepalive_seconds):
                            await lost.wait()
                    except TimeoutError:
                        # A link that died without a word (a host gone) shows only when used.
                        await connection.fetchval("SELECT 1", timeout=5.0)
            finally:
                self.connected = False
                connection.remove_termination_listener(on_lost)
                if not connection.is_closed():
                    await connection.remove_listener(CHANNEL, self._notified)


class StreamFollower:
    """The loop both followers share: a round at once when woken, else every `poll_interval`;
    sooner when events are on their way; a growing pause after a failure. A subclass defines
    `step()`, one round."""

    def __init__(self, *, poll_interval: float, max_backoff: float, label: str) -> None:
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.failures = 0
        """Rounds that failed (a counter)."""
        self.wake = asyncio.Event()
        """Set to make the follower read now (the listener sets it on a notification)."""
        self.label = label
        self._stopping = asyncio.Event()
        self._oldest_waiting: datetime | None = None
        self._clock: Callable[[], float] = time.time

    @property
    def lag_seconds(self) -> float:
        """How long the oldest event not yet taken in has been waiting, as of the last round
        (0 when none was waiting): a gauge of how far behind this follower is."""
        if self._oldest_waiting is None:
            return 0.0
        return max(0.0, self._clock() - self._oldest_waiting.timestamp())

    async def step(self) -> Outcome:  # pragma: no cover - every subclass defines it
        """One round: read what is there and take it in."""
        raise NotImplementedError

    async def run(self) -> None:
        """Follow the stream until `following()` ends."""
        delay, failed_in_a_row, pending_in_a_row = 0.0, 0, 0
        while not self._stopping.is_set():
            if delay > 0:
                await self._pause(delay, wakeable=failed_in_a_row == 0)
                if self._stopping.is_set():
                    return
            self.wake.clear()
            try:
                outcome = await self.step()
            except Exception as exc:  # logged and retried: the loop must outlive any error
                self.failures += 1
                failed_in_a_row += 1
                delay = min(self.max_backoff, 0.5 * 2**failed_in_a_row)
                logger.warning(
                    "%s failed (%s%s); retrying in %.1f s",
                    self.label,
                    type(exc).__name__,
                    f" {exc.sqlstate}" if isinstance(exc, asyncpg.PostgresError) else "",
                    delay,
                )
                continue
            failed_in_a_row = 0
            pending_in_a_row = pending_in_a_row + 1 if outcome is Outcome.PENDING else 0
            if outcome is Outcome.APPLIED:
                delay = 0.0
            elif outcome is Outcome.PENDING:
                delay = min(self.poll_interval, 0.05 * 2**pending_in_a_row)
            else:
                delay = self.poll_interval

    async def _pause(self, seconds: float, *, wakeable: bool) -> None:
        # After a failure a notification does not cut the pause short: a flood of them would
        # otherwise turn the back-off into a busy loop.
        event = self.wake if wakeable else self._stopping
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass

    @asynccontextmanager
    async def following(
        self, listener: UserEventListener | None, *, stop_timeout: float = 5.0
    ) -> AsyncIterator[None]:
        """`run()` in a task while inside, woken by `listener` (None: polling only). At the
        end, the round in hand finishes (at most `stop_timeout` seconds, then it is cancelled:
        a transaction it held rolls back) and the follower stops."""
        self._stopping.clear()
        if listener is not None:
            listener.subscribe(self.wake)
        task = asyncio.create_task(self.run(), name=self.label)
        try:
            yield
        finally:
            if listener is not None:
                listener.unsubscribe(self.wake)
            self._stopping.set()
            self.wake.set()
            try:
                async with asyncio.timeout(stop_timeout):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    @staticmethod
    async def pending(shared: asyncpg.Pool, cursor: EventCursor) -> bool:
        """Whether events after `cursor` exist that are not settled yet."""
        pending: bool = await shared.fetchval(_PENDING, str(cursor.txid), cursor.id)
        return pending


@asynccontextmanager
async def shared_listener(
    app: Litestar, pool: asyncpg.Pool
) -> AsyncIterator[UserEventListener | None]:
    """The worker's one listener (kept in `app.state`), shared by the consumer and the
    revocation feed: one connection however many use it.

    It listens on the pool at `app.state["listen_pool"]` when there is one (a direct one: the
    shared pool goes through PgBouncer, whose transaction mode cannot hold a `LISTEN`), else on
    `pool` itself unless that goes through PgBouncer: then there is no listener (None) and the
    followers poll.
    """
    listen_pool: asyncpg.Pool | None = app.state.get(LISTEN_POOL_KEY)
    if listen_pool is None and not getattr(pool, "pooled", False):
        listen_pool = pool
    if listen_pool is None:
        yield None
        return
    listener: UserEventListener | None = app.state.get(_LISTENER_STATE_KEY)
    if listener is None or listener.pool is not listen_pool:
        listener = UserEventListener(listen_pool)
        app.state[_LISTENER_STATE_KEY] = listener
    async with listener.in_use():
        yield listener


def pool_from_state(app: Litestar, key: str) -> asyncpg.Pool:
    """`app.state[key]`, a pool a lifespan before this one opened; a clear error if none did."""
    pool: asyncpg.Pool | None = app.state.get(key)
    if pool is None:
        raise ConfigurationError(
            f"no pool at app.state[{key!r}]: the pool's lifespan must come before this one"
        )
    return pool
