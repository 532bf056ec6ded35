"""asyncpg pools and transactions for the services."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec

from atriz_database.connections import connection_failure
from atriz_database.errors import DatabaseUnavailableError, PoolTimeoutError
from atriz_database.settings import DatabaseSettings

__all__ = [
    "CONNECTION_FAILURES",
    "BoundedPool",
    "close_pool",
    "connect",
    "create_pool",
    "session_settings",
    "transaction",
]

logger = logging.getLogger(__name__)

CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""What opening a connection may raise: the server is unreachable, refuses, or is slow."""

# Serialises the services of one login that set its defaults at the same time: two concurrent
# ALTER ROLE of one catalog row fail ("tuple concurrently updated").
_SESSION_DEFAULTS_LOCK = 0x61747269_7A736574  # "atrizset"
_ROLE_DEFAULTS = (
    "SELECT s.setconfig FROM pg_db_role_setting s"
    " JOIN pg_database d ON d.oid = s.setdatabase AND d.datname = current_database()"
    " JOIN pg_roles r ON r.oid = s.setrole AND r.rolname = current_user"
)
_SESSION_VALUES = "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])"
# `false`: for the session, beyond this transaction.
_SET_SESSION_VALUES = (
    "SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)"
)


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


def session_settings(settings: DatabaseSettings) -> dict[str, str]:
    """The timeouts every pooled session runs with, as PostgreSQL settings (milliseconds), and
    its plans' mode when `settings.custom_plans`."""
    wanted = {
        "idle_in_transaction_session_timeout": str(int(settings.idle_transaction_timeout * 1000)),
        "statement_timeout": str(int(settings.statement_timeout * 1000)),
        "lock_timeout": str(int(settings.lock_timeout * 1000)),
    }
    if settings.custom_plans:
        wanted["plan_cache_mode"] = "force_custom_plan"
    return wanted


async def connect(url: str, settings: DatabaseSettings | None = None) -> asyncpg.Connection:
    """One connection with the pools' codecs, for commands and scripts that need no pool
    (through PgBouncer too: no prepared statement outlives its query)."""
    settings = settings or DatabaseSettings.from_env()
    try:
        connection = await asyncpg.connect(
            url,
            timeout=settings.connect_timeout,
            statement_cache_size=0 if settings.pooled else 100,
        )
    except CONNECTION_FAILURES as exc:
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

    __slots__ = ("acquire_timeout", "pooled", "url")

    def __init__(
        self, url: str, *args: Any, acquire_timeout: float, pooled: bool, **kwargs: Any
    ) -> None:
        super().__init__(url, *args, **kwargs)
        self.url = url
        """Where its connections lead (with the password, if the URL has one: never log it)."""
        self.acquire_timeout = acquire_timeout
        self.pooled = pooled
        """Its connections go through PgBouncer in transaction mode: no session of their own."""

    async def answers_apart(self) -> None:
        """Run `SELECT 1` on a connection of its own, outside the pool: whether the database
        answers when every pooled connection is busy. Raises what connecting or the query
        raises."""
        connection = await asyncpg.connect(self.url, statement_cache_size=0)
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()

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


async def create_pool(
    url: str, settings: DatabaseSettings | None = None, *, lazy: bool = False
) -> BoundedPool:
    """An asyncpg pool for `url`, sized from `settings`, with JSON, JSONB and UUID codecs, whose
    acquires wait at most `settings.acquire_timeout` (`PoolTimeoutError` after that).

    Straight to PostgreSQL, each connection sets the timeouts of `settings` when it opens.
    Through PgBouncer (`settings.pooled`) a connection is a server session only for one
    transaction, so nothing may live in the session: asyncpg's statement cache is off (its
    statements are unnamed, parsed and run within one round of messages, which PgBouncer keeps
    on one server connection) and the timeouts, which PgBouncer refuses as startup parameters,
    are made the login's defaults in the database instead (see `_set_session_defaults`).

    A server that cannot be reached raises `DatabaseUnavailableError` naming host and database,
    unless `lazy`: then no connection is opened until one is acquired (a read replica that may
    be down when the service starts).
    """
    settings = settings or DatabaseSettings.from_env()
    wanted = session_settings(settings)
    pooled_options: dict[str, Any] = (
        {"statement_cache_size": 0} if settings.pooled else {"server_settings": wanted}
    )
    # Built as `asyncpg.create_pool` builds its pool, with the same defaults.
    pool = BoundedPool(
        url,
        acquire_timeout=settings.acquire_timeout,
        pooled=settings.pooled,
        min_size=0 if lazy else settings.pool_min_size,
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
        **pooled_options,
    )
    try:
        await pool
    except CONNECTION_FAILURES as exc:
        raise connection_failure(url, exc) from exc
    if settings.pooled and not lazy:
        try:
            await _set_session_defaults(pool, wanted)
        except BaseException:
            pool.terminate()
            raise
    return pool


async def _set_session_defaults(pool: BoundedPool, wanted: dict[str, str]) -> None:
    """Make `wanted` the defaults of the pool's login in its database (`ALTER ROLE ... IN
    DATABASE ... SET`), unless they already are.

    PgBouncer refuses settings as startup parameters, and `ignore_startup_parameters` would
    drop them silently: sessions would run without the timeouts that keep one slow query or
    held lock from pinning the pool. A session `SET` through the pooler would land on whichever
    server connection ran it. The login's defaults in the database are what every server
    session PgBouncer opens for this login and database (its pool's key) starts with, whichever
    client it serves next; the login may set its own (no privilege needed), so the service's
    settings stay the only source.

    A session opened before the change keeps its old values: the one this check ran on is set
    to the new defaults here (the values any session of the login now starts with, so no
    client of the pool can tell); others PgBouncer opened earlier keep theirs until it reopens
    them (`server_lifetime`, or `RECONNECT` on its console). A hot standby carries its
    primary's defaults and cannot write them: nothing is done there.
    """
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval("SELECT pg_is_in_recovery()"):
            return
        if _differing(await connection.fetchval(_ROLE_DEFAULTS), wanted):
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SESSION_DEFAULTS_LOCK)
            differing = _differing(await connection.fetchval(_ROLE_DEFAULTS), wanted)
            database = await connection.fetchval("SELECT quote_ident(current_database())")
            for name in differing:
                await connection.execute(
                    f"ALTER ROLE CURRENT_USER IN DATABASE {database}"
                    f" SET {name} = '{_plain(wanted[name])}'"
                )
            logger.info(
                "set the session defaults of this login in its database: %s",
                ", ".join(f"{name}={wanted[name]}" for name in differing),
            )
        rows = await connection.fetch(_SESSION_VALUES, list(wanted))
        if {row["name"]: row["setting"] for row in rows} != wanted:
            await connection.execute(_SET_SESSION_VALUES, list(wanted), list(wanted.values()))


def _plain(value: str) -> str:
    """`value`, which `session_settings` fixed (a whole number, a mode's name): nothing there
    comes from input, and this keeps it so."""
    if not value.isascii() or not value.replace("_", "").isalnum():
        raise ValueError(f"not a plain setting value: {value!r}")
    return value


def _differing(setconfig: list[str] | None, wanted: dict[str, str]) -> list[str]:
    current = dict(item.split("=", 1) for item in setconfig or ())
    return [name for name, value in wanted.items() if current.get(name) != value]


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
