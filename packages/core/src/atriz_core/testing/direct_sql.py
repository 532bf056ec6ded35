"""SQL straight in a test's database, beside the app under test: for set-up and for checks that
the API cannot make (what a failed request left behind, a row the app must never expose)."""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

__all__ = ["DirectSql", "beside", "fetch_rows", "fetch_value"]


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
