"""SQL straight in a test's database, beside the app under test: for set-up and for checks that
the API cannot make (what a failed request left behind, a row the app must never expose)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import asyncpg

__all__ = ["DirectSql", "beside", "fetch_rows", "fetch_value", "lock_waiters"]


async def beside(url: str) -> asyncpg.Connection:
    """A connection of its own to `url` (the URL the app has) without asyncpg's statement
    cache, so that it works through PgBouncer too: a cache's named statements would outlive it
    on PgBouncer's server connections and clash with the next client's."""
    return await asyncpg.connect(url, statement_cache_size=0)


async def fetch_value(url: str, sql: str, *args: Any) -> Any:
    """One value read (or written) on a connection of its own to `url`."""
    connection = await beside(url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def fetch_rows(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows read (or written) on a connection of its own to `url`."""
    connection = await beside(url)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
    finally:
        await connection.close()
    return rows


async def lock_waiters(
    connection: asyncpg.Connection, *, seconds: float = 10, at_least: int = 1
) -> int:
    """How many other sessions of the connection's database wait for a lock, once `at_least`
    do (how many do after `seconds`, if fewer): a test holding a lock sees its requests queue
    behind it before it moves on.

    The statistics snapshot is cleared before each look: inside a transaction (the one holding
    the lock) `pg_stat_activity` is read once and then repeated until the transaction ends, so
    a wait that began after the first look would never show.
    """
    for _ in range(int(seconds / 0.05)):
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        waiting: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if waiting >= at_least:
            return waiting
        await asyncio.sleep(0.05)
    return waiting


class _HasDatabase(Protocol):
    @property
    def database_url(self) -> str: ...


class DirectSql:
    """`sql(...)` and `rows(...)` on `self.settings.database_url`, for an app's test double:

    @dataclass
    class RunningPshop(DirectSql):
        app: Litestar
        settings: PshopSettings
    """

    settings: _HasDatabase

    async def sql(self, sql: str, *args: Any) -> Any:
        """One value read (or written) straight in the app's database."""
        return await fetch_value(self.settings.database_url, sql, *args)

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows read (or written) straight in the app's database."""
        return await fetch_rows(self.settings.database_url, sql, *args)
