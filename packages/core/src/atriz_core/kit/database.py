"""The database toolkit's Litestar glue: a pool per database for the app's lifetime, a
connection per request, a transaction per write, and a bounded retry of that transaction when
PostgreSQL aborts it for a serialization failure or a deadlock.

`provide_db` (a handler parameter `conn: Db`) gives a safe request (GET, HEAD, OPTIONS) a plain
pooled connection and an unsafe one (POST, PUT, PATCH, DELETE) a connection inside one
transaction: Litestar closes a generator dependency after the handler (and after its response
is built, before it is sent) and throws the handler's error into it, so the transaction commits
when the handler returns and rolls back when it raises, with no code in handlers.

Why a retry needs middleware: Litestar runs the handler and closes its dependencies inside the
route, then turns an error into a response (an exception handler) before any middleware sees
it. So `provide_db` marks the request when its transaction died of a conflict, the 503 from
`kit.problems` goes out as usual, and `TransactionRetryMiddleware`, which buffered the request
body, sees the mark at the start of that response, withholds it and runs the request again
with the same body and a fresh connection state: a new handler call, a new transaction. After
its last attempt the 503 (with `Retry-After`) goes out. Only requests whose response has not
started are retried, and only when the conflict hit the one transaction `provide_db` owned: a
handler that committed part of its work through another connection is never run twice.

`provide_connection` and `provide_transaction` are the older, single-purpose providers: core
manages its own transactions on `provide_connection`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from atriz_core.kit.db_errors import TRANSACTION_CONFLICTS
from atriz_core.kit.replica import (
    REPLICA_STATE_KEY,
    ROUTING_SCOPE_KEY,
    Routing,
    note_write,
    routed_read,
)
from atriz_core.kit.rerun import SAFE_METHODS, declared_length, fresh_scope, read_body, replay
from atriz_database import DatabaseSettings, close_pool, create_pool

__all__ = [
    "DB_DEPENDENCY",
    "SAFE_METHODS",
    "SHARED_DB_DEPENDENCY",
    "Db",
    "DbConnection",
    "SharedDb",
    "TransactionRetryMiddleware",
    "database_dependencies",
    "db_connection",
    "pool_lifespan",
    "provide_connection",
    "provide_db",
    "provide_shared_connection",
    "provide_transaction",
    "transaction_retry",
]

logger = logging.getLogger(__name__)

DbConnection = NamedDependency[asyncpg.Connection]
"""A handler parameter `conn: DbConnection` receives the request's connection."""
Db = DbConnection
"""A handler parameter `conn: Db` receives the request's connection of its own database (in a
transaction for a write)."""
SharedDb = NamedDependency[asyncpg.Connection]
"""A handler parameter `shared_conn: SharedDb` receives a connection to `atriz_shared` through
the app's reader login (read-only, no transaction)."""
DB_DEPENDENCY = "conn"
SHARED_DB_DEPENDENCY = "shared_conn"

PoolLifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
RETRY_SCOPE_KEY = "atriz.transaction_retry"


def pool_lifespan(
    state_key: str, url: str, settings: DatabaseSettings | None = None, *, lazy: bool = False
) -> PoolLifespan:
    """A lifespan that opens a pool for `url` at start-up as `app.state[state_key]` (`lazy`:
    without connecting until a connection is first acquired)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(url, settings, lazy=lazy)
        app.state[state_key] = pool
        try:
            yield
        finally:
            await close_pool(pool)

    return lifespan


async def provide_connection(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """A pooled connection of the app's own database (`state.db_pool`), without a transaction."""
    async with state.db_pool.acquire() as connection:
        yield connection


async def provide_transaction(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """A pooled connection inside a transaction that commits unless the handler raises."""
    async with state.db_pool.acquire() as connection, connection.transaction():
        yield connection


async def provide_db(
    request: Request[Any, Any, Any], state: State
) -> AsyncGenerator[asyncpg.Connection, None]:
    """The request's connection of `state.db_pool`: plain for a safe method, inside one
    transaction for a write (commit when the handler returns, rollback when it raises).

    When that transaction dies of a serialization failure or a deadlock (in a statement or at
    COMMIT), the request is marked for `TransactionRetryMiddleware` to run it again. With a
    read replica (`kit.replica`), a safe request of a route marked `REPLICA_READS` may get a
    replica connection instead, and a write's position is noted after its commit.
    """
    routing = cast(Routing | None, request.scope.get(ROUTING_SCOPE_KEY))
    if routing is not None and request.method in SAFE_METHODS:
        async with routed_read(request, routing, state[REPLICA_STATE_KEY], state.db_pool) as read:
            yield read
        return
    async with state.db_pool.acquire() as connection:
        if request.method in SAFE_METHODS:
            yield connection
            return
        try:
            async with connection.transaction():
                yield connection
        except TRANSACTION_CONFLICTS:
            _mark_retryable(request.scope)
            raise
        if routing is not None:
            await note_write(routing, connection)


db_connection = asynccontextmanager(provide_db)
"""`provide_db` opened by the handler itself (`async with db_connection(request,
request.app.state) as conn:`), once work that must not hold a pooled connection is done: a
slow render waited with the request's transaction open and its connection taken, and a few
such requests emptied the pool."""


async def provide_shared_connection(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """A pooled connection of `state.shared_pool` (`atriz_shared` as the app's reader login),
    without a transaction: the reader can only read."""
    async with state.shared_pool.acquire() as connection:
        yield connection


def database_dependencies(*, shared: bool) -> dict[str, Provide]:
    """The dependencies to register app-wide: `conn` (`provide_db`) and, when the app has a
    pool on `atriz_shared`, `shared_conn` (`provide_shared_connection`)."""
    dependencies = {DB_DEPENDENCY: Provide(provide_db)}
    if shared:
        dependencies[SHARED_DB_DEPENDENCY] = Provide(provide_shared_connection)
    return dependencies


@dataclass
class _Attempt:
    retryable: bool = False


def _mark_retryable(scope: Scope) -> None:
    attempt = scope.get(RETRY_SCOPE_KEY)
    if isinstance(attempt, _Attempt):
        attempt.retryable = True


class TransactionRetryMiddleware:
    """Runs a write request again, up to `attempts` times in all with a short jittered pause,
    when `provide_db` reports that its transaction died of a serialization failure or a
    deadlock before the response started. See the module docstring.

    The body is buffered up to `max_body_bytes` (the service's body limit) to be replayed; a
    larger or unfinished body passes through as it came and is not retried.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        attempts: int = 3,
        backoff_seconds: float = 0.02,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if declared_length(scope) > self.max_body_bytes:
            await self.app(scope, receive, send)  # Litestar answers 413 without reading it
            return
        messages, complete = await read_body(receive, self.max_body_bytes)
        if not complete:
            await self.app(scope, replay(messages, receive), send)
            return
        body = b"".join(message.get("body", b"") for message in messages)
        for number in range(1, self.attempts + 1):
            if not await self._attempt(scope, body, receive, send, last=number == self.attempts):
                return
            logger.info(
                "transaction conflict on %s %s: running it again (attempt %d of %d)",
                scope["method"],
                scope["path"],
                number + 1,
                self.attempts,
            )
            # Jittered, growing pauses, so that the transactions that collided do not collide
            # again in lockstep.
            await asyncio.sleep(self.backoff_seconds * 2 ** (number - 1) * random.uniform(0.5, 1.5))  # noqa: S311

    async def _attempt(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, *, last: bool
    ) -> bool:
        """Run the app once; True when its response was withheld to be retried."""
        attempt = _Attempt()
        forwarded = False

        async def guarded_send(message: Message) -> None:
            nonlocal forwarded
            if attempt.retryable and not forwarded and not last:
                return  # the 503 of a transaction that will be run again
            forwarded = True
            await send(message)

        request = {"type": "http.request", "body": body, "more_body": False}
        await self.app(
            fresh_scope(scope, **{RETRY_SCOPE_KEY: attempt}),
            replay([request], receive),
            guarded_send,
        )
        return attempt.retryable and not forwarded and not last


def transaction_retry(
    *, max_body_bytes: int, attempts: int = 3, backoff_seconds: float = 0.02
) -> DefineMiddleware:
    """`TransactionRetryMiddleware` for a Litestar `middleware=[...]` list."""
    return DefineMiddleware(
        TransactionRetryMiddleware,
        max_body_bytes=max_body_bytes,
        attempts=attempts,
        backoff_seconds=backoff_seconds,
    )
