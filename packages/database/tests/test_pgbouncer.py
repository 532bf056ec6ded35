"""Through PgBouncer in transaction mode (`ATRIZ_DB_POOLER=transaction`): pools keep no session
state, the timeouts hold as the login's defaults, and the commands go straight to PostgreSQL.

The `pgbouncer` fixture runs Debian's PgBouncer (1.18) in front of the test server; without it
these tests are skipped."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import psycopg
import pytest

from atriz_database import ConfigurationError, DatabaseSettings, close_pool, create_pool
from atriz_database.migrations import migrate
from atriz_database.pgbouncer import PgBouncer
from atriz_database.settings import POOLER_TRANSACTION
from atriz_database.targets import DatabaseTarget
from atriz_database.testing import MakeDatabase, run_script, write_migration
from atriz_database.urls import direct_url

POOLED = DatabaseSettings(pooler=POOLER_TRANSACTION, pool_min_size=1, pool_max_size=30)
CORE = DatabaseTarget("core", "atriz_shared", "SHARED_DATABASE_URL", Path("m"), Path("s"))


def database_name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


async def many_at_once(pool: asyncpg.Pool, rounds: int = 300, times: int = 1) -> None:
    """Parameterised statements and transactions from every connection of `pool` at once."""

    async def one(n: int) -> None:
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT $1::int + 1", n) == n + 1
            async with connection.transaction():
                row = await connection.fetchrow("SELECT $1::text AS t, $2::uuid AS u", "x", None)
                assert row["t"] == "x"

    for _ in range(times):
        await asyncio.gather(*(one(n) for n in range(rounds)))


async def test_the_fixture_pools_by_transaction_so_cached_statements_break(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    # Proof that the fixture is in transaction mode: asyncpg's default statement cache, whose
    # named statements stay on whichever server connection prepared them, fails there.
    pool = await asyncpg.create_pool(pgbouncer.url(empty_database_url), min_size=30, max_size=30)
    try:
        with pytest.raises(
            (asyncpg.InvalidSQLStatementNameError, asyncpg.DuplicatePreparedStatementError)
        ):
            await many_at_once(pool, times=5)
    finally:
        pool.terminate()


async def test_a_pooled_pool_shares_few_server_connections_among_many(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    pool = await create_pool(pgbouncer.url(empty_database_url), POOLED)
    try:
        await many_at_once(pool)
        document = {"a": [1, 2]}
        row = await pool.fetchrow("SELECT $1::jsonb AS j, gen_random_uuid() AS u", document)
        assert row["j"] == document
        assert isinstance(row["u"], uuid.UUID)
        assert pool.get_size() == 30
        assert pgbouncer.server_connections(database_name(empty_database_url)) <= 20
    finally:
        await close_pool(pool)


async def test_pgbouncer_refuses_settings_at_connect(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    # Why a pooled pool sends none: the direct pool's way of setting its timeouts.
    with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup parameter"):
        await asyncpg.connect(
            pgbouncer.url(empty_database_url), server_settings={"statement_timeout": "1000"}
        )


async def test_pooled_sessions_run_with_the_timeouts_as_the_logins_defaults(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    settings = DatabaseSettings(
        pooler=POOLER_TRANSACTION,
        pool_max_size=8,
        statement_timeout=0.5,
        lock_timeout=0.25,
        idle_transaction_timeout=7,
    )
    pool = await create_pool(pgbouncer.url(empty_database_url), settings)
    try:
        values = await asyncio.gather(
            *(
                pool.fetchrow(
                    "SELECT current_setting('statement_timeout') AS s,"
                    " current_setting('lock_timeout') AS l,"
                    " current_setting('idle_in_transaction_session_timeout') AS i,"
                    " pg_sleep(0.05)"
                )
                for _ in range(16)
            )
        )
        assert {tuple(row[:3]) for row in values} == {("500ms", "250ms", "7s")}
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("SELECT pg_sleep(3)")
    finally:
        await close_pool(pool)
    direct = await asyncpg.connect(empty_database_url)
    try:
        defaults = await direct.fetchval(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d"
            " ON d.oid = s.setdatabase AND d.datname = current_database()"
        )
    finally:
        await direct.close()
    assert sorted(defaults) == [
        "idle_in_transaction_session_timeout=7000",
        "lock_timeout=250",
        "statement_timeout=500",
    ]


async def test_pooled_sessions_of_partitioned_tables_plan_each_statement_for_its_values(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    settings = DatabaseSettings(pooler=POOLER_TRANSACTION, custom_plans=True)
    pool = await create_pool(pgbouncer.url(empty_database_url), settings)
    try:
        assert await pool.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
    finally:
        await close_pool(pool)


async def test_a_service_started_with_other_timeouts_changes_the_defaults(
    pgbouncer: PgBouncer, empty_database_url: str
) -> None:
    url = pgbouncer.url(empty_database_url)
    first = await create_pool(url, DatabaseSettings(pooler=POOLER_TRANSACTION, lock_timeout=1))
    await close_pool(first)
    # Two at once (two workers starting): one sets the defaults, neither fails.
    later = DatabaseSettings(pooler=POOLER_TRANSACTION, lock_timeout=2)
    pools = await asyncio.gather(create_pool(url, later), create_pool(url, later))
    try:
        for pool in pools:
            assert await pool.fetchval("SELECT current_setting('lock_timeout')") == "2s"
    finally:
        for pool in pools:
            await close_pool(pool)


def test_pooler_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATRIZ_DB_POOLER", raising=False)
    assert not DatabaseSettings.from_env().pooled
    monkeypatch.setenv("ATRIZ_DB_POOLER", "Transaction")
    assert DatabaseSettings.from_env().pooled
    monkeypatch.setenv("ATRIZ_DB_POOLER", "session")
    with pytest.raises(ConfigurationError, match="ATRIZ_DB_POOLER must be 'transaction'"):
        DatabaseSettings.from_env()


def test_the_direct_url_wins_and_is_required_when_pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED_DATABASE_URL", "postgresql://app@pgbouncer:6432/atriz_shared")
    monkeypatch.delenv("SHARED_DIRECT_URL", raising=False)
    monkeypatch.delenv("ATRIZ_DB_POOLER", raising=False)
    assert direct_url(CORE) == "postgresql://app@pgbouncer:6432/atriz_shared"

    monkeypatch.setenv("ATRIZ_DB_POOLER", "transaction")
    with pytest.raises(ConfigurationError, match="set SHARED_DIRECT_URL"):
        direct_url(CORE)

    monkeypatch.setenv("SHARED_DIRECT_URL", "postgresql://app@postgres:5432/atriz_shared")
    assert direct_url(CORE) == "postgresql://app@postgres:5432/atriz_shared"


def test_commands_go_straight_to_postgresql_when_the_services_are_pooled(
    pgbouncer: PgBouncer, cli_env: dict[str, str]
) -> None:
    direct = cli_env["SHARED_DATABASE_URL"]
    env = {
        **cli_env,
        "ATRIZ_DB_POOLER": "transaction",
        "SHARED_DATABASE_URL": pgbouncer.url(direct),
    }
    refused = run_script("db-migrate", "core", env=env)
    assert refused.returncode == 1
    assert "set SHARED_DIRECT_URL" in refused.stderr

    env["SHARED_DIRECT_URL"] = direct
    assert run_script("db-create", "core", env=env).returncode == 0
    migrated = run_script("db-migrate", "core", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "0 pending" in run_script("db-status", "core", env=env).stdout


def test_a_migration_is_not_cut_short_by_the_services_statement_timeout(
    make_database: MakeDatabase, sample: DatabaseTarget
) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f'ALTER ROLE CURRENT_USER IN DATABASE "{database_name(url)}"'
            " SET statement_timeout = '100ms'"
        )
    write_migration(sample, "0001_slow", "SELECT pg_sleep(0.5);\nCREATE TABLE done (id int);")

    migrate(sample, url, requirement_met=lambda _: True, out=lambda _: None)

    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT to_regclass('done') IS NOT NULL").fetchone() == (True,)
