"""The database toolkit's Litestar glue: a pool per database for the app's lifetime, and a
connection per request.

`provide_transaction` gives the handler a connection inside one transaction: Litestar closes a
generator dependency after the handler and throws the handler's error into it, so the transaction
commits when the handler returns and rolls back when it raises, with no code in handlers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency

from atriz_database import DatabaseSettings, close_pool, create_pool

__all__ = ["DbConnection", "pool_lifespan", "provide_connection", "provide_transaction"]

DbConnection = NamedDependency[asyncpg.Connection]
"""A handler parameter `conn: DbConnection` receives the request's connection."""

PoolLifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


def pool_lifespan(
    state_key: str, url: str, settings: DatabaseSettings | None = None
) -> PoolLifespan:
    """A lifespan that opens a pool for `url` at start-up as `app.state[state_key]`."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(url, settings)
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
