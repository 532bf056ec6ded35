"""Reads that tolerate slightly stale data, served by a streaming replica while it keeps up.

A service given a replica (`<PREFIX>_REPLICA_URL`) serves the GETs of the routes marked
`opt=REPLICA_READS` (latest positions, tracks, article lists and search, the catalogue) from
it, through `provide_db`: their handler still takes `conn: Db`. Everything else, writes
first, goes to the primary. The replica is used only while it is usable:

- **Lag, measured cheaply and cached.** `ReplicaMonitor` probes once a second (two one-row
  queries per worker, never per request): the primary's WAL position, kept with its time for
  the last few seconds, then the position the replica has replayed. The replica holds
  everything the primary held at the newest kept time whose position it has replayed, so its
  lag is at most now minus that time, to within the probe interval; caught up, 0. Beyond
  `ATRIZ_REPLICA_MAX_LAG` (default 5 s), or down, or not a standby, reads go to the primary
  and `/ready` says `degraded` (the `replica` check `lagging` or `down`).
- **Failures cost the client nothing.** A replica that cannot give a connection sends the
  read to the primary at once; a read whose replica connection fails under it (the replica
  stopped, a recovery conflict) is run again, whole, on the primary before any of its response
  is sent (`ReplicaRouting`, the middleware). The next probe decides when the replica is back.
- **A caller reads their own writes.** After a write commits, its response sets a cookie
  (`atriz_wrote_<service>`, HttpOnly, for `ATRIZ_REPLICA_MAX_LAG` plus two probes) holding the
  primary's WAL position right after the commit; a read carrying it goes to the replica only
  once the replica has replayed that far (the cached position of the last probe), else to the
  primary. A position rather than a flag: the caller is back on the replica as soon as it has
  the write, usually by the next probe, not pinned to the primary for seconds. A cookie rather
  than a header: browsers and cookie-keeping HTTP clients (httpx, requests sessions) send it
  back without code, and it is scoped to the service that wrote (every service's database has
  its own WAL). A client that drops cookies reads at most `ATRIZ_REPLICA_MAX_LAG` behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, cast

import asyncpg
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from atriz_core.kit.observability import app_metrics
from atriz_core.kit.rerun import SAFE_METHODS, fresh_scope, replay
from atriz_database import DatabaseSettings, DatabaseUnavailableError, PoolTimeoutError
from atriz_database.pool import close_pool, create_pool

__all__ = [
    "REPLICA_OPT_KEY",
    "REPLICA_READS",
    "REPLICA_STATE_KEY",
    "ROUTING_SCOPE_KEY",
    "ReplicaCollector",
    "ReplicaMonitor",
    "ReplicaRouting",
    "Routing",
    "current_reader",
    "note_write",
    "replica_lifespan",
    "replica_routing",
    "routed_read",
    "wrote_cookie",
]

logger = logging.getLogger(__name__)

REPLICA_OPT_KEY = "atriz.replica_reads"
REPLICA_READS = {REPLICA_OPT_KEY: True}
"""`opt=REPLICA_READS` on a route (or `opt={**PUBLIC, **REPLICA_READS}`): its GETs may be
served by the replica, up to `ATRIZ_REPLICA_MAX_LAG` seconds behind the primary."""
REPLICA_STATE_KEY = "replica"
"""`app.state[...]`: the service's `ReplicaMonitor` (with the replica's pool)."""
ROUTING_SCOPE_KEY = "atriz.replica_routing"
_COLLECTOR_STATE_KEY = "replica_collector"
PROBE_INTERVAL = 1.0

_PRIMARY_POSITION = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
# After a commit: the insert position is past the commit record even before it is flushed.
_WRITE_POSITION = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
_REPLICA_POSITION = (
    "SELECT pg_is_in_recovery() AS standby,"
    " pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed"
)
# The connection gave out under a read: the replica stopped, restarted or went away. A pooled
# connection cut in the middle of an operation fails its next query with InternalClientError
# (see `problems.handle_unexpected`): seen when the replica stopped during a read, answered 503.
_LOST = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
# A query cancelled by replay (a recovery conflict, SQLSTATE 40001 on a standby): the replica is
# well, this read is run again on the primary.
_CONFLICT = (asyncpg.SerializationError,)
_UNKNOWN_WRITE = 2**63 - 1
"""Where a write's position could not be read after its commit: the primary until expiry."""


class ReplicaMonitor:
    """Whether the replica may serve reads now, from a probe every `interval` seconds.

    `status` is `up`, `lagging` (further behind than `max_lag`), `down` or `not a standby`;
    `lag_seconds` the bound on how far behind it is (None when unknown); `replayed` the WAL
    position it has replayed (as of the last probe). Counters: `reads_replica`,
    `reads_primary` (marked routes served by the primary instead), `failures` (reads that
    failed on the replica and ran again on the primary).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        primary: asyncpg.Pool,
        *,
        max_lag: float,
        interval: float = PROBE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.primary = primary
        self.max_lag = max_lag
        self.interval = interval
        self.status = "down"
        self.lag_seconds: float | None = None
        self.replayed: int | None = None
        self.reads_replica = 0
        self.reads_primary = 0
        self.failures = 0
        self._clock = clock
        # (time, primary position) of the recent probes, oldest first.
        self._positions: collections.deque[tuple[float, int]] = collections.deque()

    def serves(self, wrote: int | None) -> bool:
        """The replica may serve a read now, one that must see the write at `wrote` if given."""
        if self.status != "up":
            return False
        return wrote is None or (self.replayed is not None and self.replayed >= wrote)

    def mark_down(self) -> None:
        """The replica failed a read: none goes there until a probe finds it well again."""
        self.status = "down"

    async def probe(self) -> None:
        """Measure once: the primary's position, then the replica's."""
        now = self._clock()
        try:
            position: int = await self.primary.fetchval(_PRIMARY_POSITION, timeout=self.interval)
        except Exception as exc:  # the primary's trouble is /ready's business, not the probe's
            logger.debug("replica probe: the primary did not answer (%s)", type(exc).__name__)
        else:
            self._positions.append((now, position))
        while self._positions and now - self._positions[0][0] > self.max_lag + 3 * self.interval:
            self._positions.popleft()
        try:
            row = await self.pool.fetchrow(_REPLICA_POSITION, timeout=self.interval)
        except Exception as exc:  # down, refusing, too slow: all the same to a reader
            self._set("down", None, None, reason=type(exc).__name__)
            return
        if not row["standby"] or row["replayed"] is None:
            self._set("not a standby", None, None, reason="it is not replaying a primary")
            return
        lag = self._lag(row["replayed"], now)
        status = "up" if lag is not None and lag <= self.max_lag else "lagging"
        self._set(status, lag, row["replayed"])

    def _lag(self, replayed: int, now: float) -> float | None:
        """How far behind a replica that has replayed up to `replayed` is, at most."""
        if self._positions and replayed >= self._positions[-1][1]:
            return 0.0
        held = [at for at, position in self._positions if position <= replayed]
        return now - max(held) if held else None

    def _set(self, status: str, lag: float | None, replayed: int | None, reason: str = "") -> None:
        if status != self.status:
            log = logger.info if status == "up" else logger.warning
            log("read replica %s%s", status, f" ({reason})" if reason else "")
        self.status, self.lag_seconds, self.replayed = status, lag, replayed

    async def run(self) -> None:
        """Probe every `interval` seconds until cancelled."""
        while True:
            await self.probe()
            await asyncio.sleep(self.interval)


def replica_lifespan(
    url: str, settings: DatabaseSettings | None = None, *, interval: float = PROBE_INTERVAL
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan (after the primary pool's) that opens a pool on the replica at `url` without
    connecting (it may be down: the service starts all the same) and runs its monitor, at
    `app.state["replica"]`."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = settings or DatabaseSettings.from_env()
        pool = await create_pool(url, database, lazy=True)
        monitor = ReplicaMonitor(
            pool, app.state.db_pool, max_lag=database.replica_max_lag, interval=interval
        )
        app.state[REPLICA_STATE_KEY] = monitor
        if not app.state.get(_COLLECTOR_STATE_KEY):  # once per app, however often it starts
            app_metrics(app).register(ReplicaCollector(app))
            app.state[_COLLECTOR_STATE_KEY] = True
        await monitor.probe()  # known before the first request
        task = asyncio.create_task(monitor.run(), name="replica-monitor")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_pool(pool)

    return lifespan


@dataclass
class Routing:
    """One request's routing, shared by its attempts (`ReplicaRouting` puts it in the scope)."""

    wrote: int | None
    """The WAL position of the caller's last write, from their cookie."""
    primary_only: bool = False
    """A second attempt: the replica failed the first."""
    replica_failed: bool = False
    """The replica connection failed under the read: run it again on the primary."""
    committed: int | None = None
    """The primary's WAL position after this request's write committed."""
    replica_serves: bool = False
    """The current attempt reads from the replica (`routed_read`)."""


@asynccontextmanager
async def routed_read(
    request: Request[Any, Any, Any], routing: Routing, monitor: ReplicaMonitor, primary: Any
) -> AsyncIterator[asyncpg.Connection]:
    """A connection for a safe request: the replica's when the route allows it and the
    replica serves this caller now, else the primary's (`primary`, the app's pool)."""
    if (
        not routing.primary_only
        and request.route_handler.opt.get(REPLICA_OPT_KEY)
        and monitor.serves(routing.wrote)
    ):
        try:
            connection = await monitor.pool.acquire()
        except (DatabaseUnavailableError, PoolTimeoutError) as exc:
            if isinstance(exc, DatabaseUnavailableError):
                monitor.mark_down()
        else:
            try:
                monitor.reads_replica += 1
                routing.replica_serves = True
                yield connection
            except _LOST + _CONFLICT as exc:
                if isinstance(exc, _LOST):
                    monitor.mark_down()
                monitor.failures += 1
                routing.replica_failed = True
                raise
            finally:
                routing.replica_serves = False
                await monitor.pool.release(connection)
            return
    if request.route_handler.opt.get(REPLICA_OPT_KEY):
        monitor.reads_primary += 1
    async with primary.acquire() as connection:
        yield connection


def current_reader(
    request: Request[Any, Any, Any], conn: asyncpg.Connection
) -> asyncpg.Connection | asyncpg.Pool:
    """Where a read served by the replica asks what must be current, such as who may see a
    row: the primary's pool, since the replica's rows may be `ATRIZ_REPLICA_MAX_LAG` old (a
    vehicle reassigned a second ago is no longer its previous owner's). `conn`, the request's
    own connection, when the primary serves the request: a second connection from the pool
    the request already holds one of could wait for itself once every request does that."""
    routing = cast(Routing | None, request.scope.get(ROUTING_SCOPE_KEY))
    if routing is not None and routing.replica_serves:
        return cast(asyncpg.Pool, request.app.state.db_pool)
    return conn


async def note_write(routing: Routing, connection: asyncpg.Connection) -> None:
    """After a write's commit: where the primary's WAL is now, for the caller's cookie."""
    try:
        routing.committed = await connection.fetchval(_WRITE_POSITION)
    except Exception as exc:  # committed all the same; the caller reads from the primary
        logger.warning("no WAL position after a write (%s)", type(exc).__name__)
        routing.committed = _UNKNOWN_WRITE


def wrote_cookie(service: str) -> str:
    """The name of the cookie that holds a caller's last write position at `service`."""
    return f"atriz_wrote_{service}"


class ReplicaRouting:
    """Puts a `Routing` in each HTTP request's scope (the caller's write position read from
    their cookie), sets the cookie on a successful write's response, and runs a read again on
    the primary when the replica failed it before its response started."""

    def __init__(self, app: ASGIApp, *, service: str, max_lag: float, interval: float) -> None:
        self.app = app
        self.cookie = wrote_cookie(service)
        self.max_age = math.ceil(max_lag + 2 * interval)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        routing = Routing(wrote=self._wrote(scope["headers"]))
        if scope["method"] not in SAFE_METHODS:
            routed = fresh_scope(scope, **{ROUTING_SCOPE_KEY: routing})
            await self.app(routed, receive, self._cookie_on(send, scope, routing))
            return
        forwarded = False

        async def guarded_send(message: Message) -> None:
            nonlocal forwarded
            if routing.replica_failed and not forwarded:
                return  # withheld: the read runs again on the primary
            forwarded = True
            await send(message)

        await self.app(fresh_scope(scope, **{ROUTING_SCOPE_KEY: routing}), receive, guarded_send)
        if routing.replica_failed and not forwarded:
            logger.info("a read failed on the replica: running it again on the primary")
            routing.primary_only, routing.replica_failed = True, False
            empty = {"type": "http.request", "body": b"", "more_body": False}
            again = fresh_scope(scope, **{ROUTING_SCOPE_KEY: routing})
            await self.app(again, replay([empty], receive), send)

    def _wrote(self, headers: Iterable[tuple[bytes, bytes]]) -> int | None:
        for name, value in headers:
            if name == b"cookie" and self.cookie.encode() in value:
                morsel = SimpleCookie(value.decode("latin-1")).get(self.cookie)
                if morsel is not None and morsel.value.isdigit() and len(morsel.value) < 20:
                    return int(morsel.value)
        return None

    def _cookie_on(self, send: Send, scope: Scope, routing: Routing) -> Send:
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def with_cookie(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and routing.committed is not None
                and message["status"] < 400
            ):
                cookie = (
                    f"{self.cookie}={routing.committed}; Max-Age={self.max_age}; Path=/;"
                    f" HttpOnly; SameSite=Lax{secure}"
                )
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        return with_cookie


def replica_routing(
    *, service: str, max_lag: float, interval: float = PROBE_INTERVAL
) -> DefineMiddleware:
    """`ReplicaRouting` for a Litestar `middleware=[...]` list."""
    return DefineMiddleware(ReplicaRouting, service=service, max_lag=max_lag, interval=interval)


class ReplicaCollector:
    """`/metrics`: `atriz_replica_lag_seconds`, `atriz_replica_usable`, and
    `atriz_replica_reads_total` by where the marked reads were served (`replica`, `primary`,
    `failed`: failed on the replica, run again on the primary)."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        monitor: ReplicaMonitor | None = self.app.state.get(REPLICA_STATE_KEY)
        lag = GaugeMetricFamily("atriz_replica_lag_seconds", "How far the replica trails, at most")
        usable = GaugeMetricFamily("atriz_replica_usable", "1 while the replica serves reads")
        reads = CounterMetricFamily(
            "atriz_replica_reads", "Reads of replica routes, by where served", labels=["served_by"]
        )
        if monitor is not None:
            if monitor.lag_seconds is not None:
                lag.add_metric([], monitor.lag_seconds)
            usable.add_metric([], 1.0 if monitor.status == "up" else 0.0)
            reads.add_metric(["replica"], monitor.reads_replica)
            reads.add_metric(["primary"], monitor.reads_primary)
            reads.add_metric(["failed"], monitor.failures)
        return [lag, usable, reads]
