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
from atriz_database.settings import DatabaseSettings

__all__ = ["close_pool", "connect", "create_pool", "transaction"]


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Codecs are per connection; `init` runs once for each connection the pool opens.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog"
        )
    # Plain `uuid.UUID` values rather than asyncpg's own subclass, so they compare, hash and
    # serialise the same everywhere in the application.
    await connection.set_type_codec(
        "uuid", encoder=str, decoder=uuid.UUID, schema="pg_catalog", format="text"
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


async def create_pool(url: str, settings: DatabaseSettings | None = None) -> asyncpg.Pool:
    """An asyncpg pool for `url`, sized from `settings`, with JSON, JSONB and UUID codecs.

    A server that cannot be reached raises `DatabaseUnavailableError` naming host and database.
    """
    settings = settings or DatabaseSettings.from_env()
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.connect_timeout,
            init=_init_connection,
        )
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
