"""asyncpg pools: codecs, transactions, closing, and connection failures."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import psycopg
import pytest

from atriz_database import (
    DatabaseSettings,
    DatabaseUnavailableError,
    PoolTimeoutError,
    close_pool,
    create_pool,
    transaction,
)
from atriz_database.testing import MakeDatabase
from atriz_database.urls import maintenance_url


async def test_pool_is_sized_from_settings(empty_database_url: str) -> None:
    pool = await create_pool(empty_database_url, DatabaseSettings(pool_min_size=2, pool_max_size=3))
    try:
        assert pool.get_min_size() == 2
        assert pool.get_max_size() == 3
    finally:
        await close_pool(pool)


async def test_json_jsonb_and_uuid_round_trip(empty_database_url: str) -> None:
    pool = await create_pool(empty_database_url)
    document = {"name": "Ana", "tags": ["a", "b"], "nested": {"n": 1.5}}
    user_id = uuid.uuid4()
    try:
        row = await pool.fetchrow(
            "SELECT $1::json AS j, $2::jsonb AS jb, $3::uuid AS id, gen_random_uuid() AS fresh",
            document,
            document,
            user_id,
        )
    finally:
        await close_pool(pool)
    assert row is not None
    assert row["j"] == document
    assert row["jb"] == document
    assert row["id"] == user_id
    assert type(row["id"]) is uuid.UUID
    assert type(row["fresh"]) is uuid.UUID


async def test_transaction_commits_on_success_and_rolls_back_on_error(
    empty_database_url: str,
) -> None:
    pool = await create_pool(empty_database_url)
    try:
        await pool.execute("CREATE TABLE items (name text PRIMARY KEY)")
        async with transaction(pool) as connection:
            await connection.execute("INSERT INTO items VALUES ($1)", "kept")

        async def insert_lost_then_duplicate() -> None:
            async with transaction(pool) as connection:
                await connection.execute("INSERT INTO items VALUES ($1)", "lost")
                await connection.execute("INSERT INTO items VALUES ($1)", "kept")

        with pytest.raises(asyncpg.UniqueViolationError):
            await insert_lost_then_duplicate()

        names = await pool.fetch("SELECT name FROM items ORDER BY name")
    finally:
        await close_pool(pool)
    assert [r["name"] for r in names] == ["kept"]


async def test_concurrent_transactions_each_see_their_own_writes(empty_database_url: str) -> None:
    pool = await create_pool(empty_database_url, DatabaseSettings(pool_max_size=5))
    await pool.execute("CREATE TABLE counters (worker int PRIMARY KEY, n int NOT NULL)")

    async def work(worker: int) -> None:
        async with transaction(pool) as connection:
            await connection.execute("INSERT INTO counters VALUES ($1, 0)", worker)
            for _ in range(20):
                await connection.execute("UPDATE counters SET n = n + 1 WHERE worker = $1", worker)

    try:
        await asyncio.gather(*(work(w) for w in range(10)))
        totals = await pool.fetch("SELECT n FROM counters")
    finally:
        await close_pool(pool)
    assert [r["n"] for r in totals] == [20] * 10


async def test_unreachable_server_names_host_and_database() -> None:
    url = "postgresql://postgres@127.0.0.1:1/atriz_shared"
    with pytest.raises(DatabaseUnavailableError) as failure:
        await create_pool(url, DatabaseSettings(connect_timeout=2))
    message = str(failure.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:1/atriz_shared")
    assert "\n" not in message


async def test_missing_database_says_how_to_create_it(postgres_server_url: str) -> None:
    url = postgres_server_url.replace("/postgres", "/atriz_no_such_database", 1)
    with pytest.raises(DatabaseUnavailableError, match=r"atriz_no_such_database.*db-create"):
        await create_pool(url)


async def test_close_pool_terminates_connections_still_in_use(empty_database_url: str) -> None:
    pool = await create_pool(empty_database_url)
    held = await pool.acquire()

    async with asyncio.timeout(10):  # a hang guard: close_pool must not wait for `held`
        await close_pool(pool, grace_seconds=0.2)

    assert pool.is_closing()
    with pytest.raises(asyncpg.InterfaceError):
        await held.fetchval("SELECT 1")


async def test_acquire_waits_at_most_the_acquire_timeout(empty_database_url: str) -> None:
    pool = await create_pool(
        empty_database_url,
        DatabaseSettings(pool_min_size=1, pool_max_size=1, acquire_timeout=0.2),
    )
    try:
        async with pool.acquire():
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(PoolTimeoutError):
                await pool.fetchval("SELECT 1")
            waited = loop.time() - started
        assert 0.15 < waited < 2.0
        assert await pool.fetchval("SELECT 1") == 1, "the pool works again once freed"
    finally:
        await close_pool(pool)


async def test_pooled_sessions_may_not_idle_in_a_transaction(empty_database_url: str) -> None:
    pool = await create_pool(empty_database_url, DatabaseSettings(idle_transaction_timeout=0.2))
    try:
        assert await pool.fetchval("SHOW idle_in_transaction_session_timeout") == "200ms"
        async with pool.acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            await asyncio.sleep(0.6)
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
                await connection.fetchval("SELECT 1")
    finally:
        await close_pool(pool)


async def test_pooled_statements_and_lock_waits_are_bounded(empty_database_url: str) -> None:
    settings = DatabaseSettings(statement_timeout=0.3, lock_timeout=0.2)
    pool = await create_pool(empty_database_url, settings)
    try:
        await pool.execute("CREATE TABLE t (n int)")
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("SELECT pg_sleep(2)")
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await pool.fetchval("SELECT count(*) FROM t")
    finally:
        await close_pool(pool)


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(
    empty_database_url: str,
) -> None:
    pool = await create_pool(empty_database_url, DatabaseSettings(pool_min_size=1, pool_max_size=1))
    try:
        await pool.execute("CREATE TABLE t (n int)")
        connection = await pool.acquire()
        await connection.execute("BEGIN")
        await connection.execute("INSERT INTO t VALUES (1)")
        await pool.release(connection)
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await close_pool(pool)


async def test_a_database_that_refuses_connections_is_unavailable_not_an_error(
    make_database: MakeDatabase,
) -> None:
    url = make_database("closed")
    pool = await create_pool(url, DatabaseSettings(pool_min_size=0, pool_max_size=2))
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    try:
        with psycopg.connect(maintenance_url(url), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        with pytest.raises(DatabaseUnavailableError, match="could not open a pooled connection"):
            await pool.fetchval("SELECT 1")
    finally:
        with psycopg.connect(maintenance_url(url), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await close_pool(pool)


async def test_a_pool_for_partitioned_tables_plans_each_statement_for_its_values(
    empty_database_url: str,
) -> None:
    """`custom_plans`: a generic plan would lock every partition, whatever its values prune."""
    for settings, mode in (
        (DatabaseSettings(), "auto"),
        (DatabaseSettings(custom_plans=True), "force_custom_plan"),
    ):
        pool = await create_pool(empty_database_url, settings)
        try:
            assert await pool.fetchval("SHOW plan_cache_mode") == mode
        finally:
            await close_pool(pool)
