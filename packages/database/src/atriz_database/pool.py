"""asyncpg pools and transactions for the services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec

from atriz_database.connections import connection_failure
from atriz_database.errors import DatabaseUnavailableError, PoolTimeoutError
from atriz_database.settings import DatabaseSettings

__all__ = ["BoundedPool", "close_pool", "connect", "create_pool", "transaction"]


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _encode_uuid(value: uuid.UUID | str) -> bytes:
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).bytes


def _decode_uuid(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Codecs are per connection; `init` runs once for each connection the pool opens.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog"
        )
    # Plain `uuid.UUID` values rather than asyncpg's own subclass, so they compare, hash and
    # serialise the same everywhere in the application. In the binary format, which COPY
    # (`copy_records_to_table`) needs for every column it is given.
    await connection.set_type_codec(
        "uuid", encoder=_encode_uuid, decoder=_decode_uuid, schema="pg_catalog", format="binary"
    )


async def connect(url: str, settings: DatabaseSettings | None = None) -> asyncpg.Connection:
    """One connection with the pools' codecs, for commands and scripts that need no pool."""
    settings = settings or DatabaseSettings.from_env()
    try:
        connection = await asyncpg.connect(url, timeout=settings.connect_timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise connection_failure(url, exc) from exc
    await _init_connection(connection)
    return connection


async def _release_as_is(connection: asyncpg.Connection) -> None:
    """How a connection goes back to the pool: as it is, after asyncpg has rolled back any
    transaction left open and dropped its listeners.

    asyncpg's default also runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`,
    a round trip on every release: a third of a login's trips to PostgreSQL (measured: 0.73 to
    0.78 of the argon2 ceiling at 8 connections, 0.74 to 0.81 at 64). It is not needed because
    pooled connections carry no session state, the same rule PgBouncer's transaction mode
    imposes: no session-level `SET` (use `SET LOCAL`), no advisory lock, no held cursor, and a
    `LISTEN` only on a connection held for it, whose listener is removed before it goes back.
    """


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """An asyncpg pool whose every acquire, its own `fetch`/`execute` helpers included, waits
    at most `acquire_timeout` seconds and then raises `PoolTimeoutError`.

    asyncpg's default is to wait forever: under overload every request would queue behind the
    pool and hang, where it should be refused at once (503) so that clients back off.
    """

    __slots__ = ("acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 - asyncpg's signature
        # Every acquire path (`acquire()`, `fetch()`, `execute()`...) goes through here.
        limit = self.acquire_timeout if timeout is None else timeout
        try:
            return await super()._acquire(limit)
        except TimeoutError as exc:
            raise PoolTimeoutError(limit) from exc
        except (OSError, asyncpg.PostgresError) as exc:
            # Only opening a new connection can fail here: the server is down, full, or the
            # database refuses connections for now (being restored, `ALLOW_CONNECTIONS false`).
            raise DatabaseUnavailableError(
                f"could not open a pooled connection ({type(exc).__name__})"
            ) from exc


async def create_pool(url: str, settings: DatabaseSettings | None = None) -> BoundedPool:
    """An asyncpg pool for `url`, sized from `settings`, with JSON, JSONB and UUID codecs, whose
    acquires wait at most `settings.acquire_timeout` (`PoolTimeoutError` after that).

    A server that cannot be reached raises `DatabaseUnavailableError` naming host and database.
    """
    settings = settings or DatabaseSettings.from_env()
    # Built as `asyncpg.create_pool` builds its pool, with the same defaults.
    pool = BoundedPool(
        url,
        acquire_timeout=settings.acquire_timeout,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=_init_connection,
        reset=_release_as_is,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=settings.connect_timeout,
        # Milliseconds, PostgreSQL's unit for all three; set at connect, no session `SET` later.
        server_settings={
            "idle_in_transaction_session_timeout": str(
                int(settings.idle_transaction_timeout * 1000)
            ),
            "statement_timeout": str(int(settings.statement_timeout * 1000)),
            "lock_timeout": str(int(settings.lock_timeout * 1000)),
        },
    )
    try:
        await pool
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise connection_failure(url, exc) from exc
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction: committed when the block ends, rolled back if it raises.

    Nested `connection.transaction()` blocks inside it are savepoints.
    """
    async with pool.acquire() as connection, connection.transaction():
        yield connection


async def close_pool(pool: asyncpg.Pool, grace_seconds: float = 10.0) -> None:
    """Close the pool, waiting up to `grace_seconds` for connections in use to be released."""
    try:
        async with asyncio.timeout(grace_seconds):
            await pool.close()
    except TimeoutError:
        pool.terminate()
