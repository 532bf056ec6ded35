"""deploy/k8s's service-logins.sql run as the migrate Job runs it (psql, after the migrations),
on a PostgreSQL cluster of its own (roles are cluster-wide): each service's login reaches its own
database and nothing else, is no superuser, and can still do what its service does; pshop's
cannot change its stock ledger; the migration gate's login reads only the bookkeeping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from atriz_database.errors import MigrationError
from atriz_database.migrations import migrate, status
from atriz_database.pgtools import find_program, server_version
from atriz_database.pool import create_pool
from atriz_database.scratch_cluster import ScratchCluster
from atriz_database.settings import POOLER_TRANSACTION, DatabaseSettings
from atriz_database.targets import ALL, TargetRegistry

from .deployment_support import ROOT

BASE = ROOT / "deploy" / "k8s" / "base"
TARGETS = TargetRegistry.from_entry_points()
TABLES = [
    ("core", "core_app", "users"),
    ("website", "website_app", "articles"),
    ("mextrack", "mextrack_app", "vehicles"),
    ("pshop", "pshop_app", "products"),
]
STATUS_LOGIN = "atriz_migration_status"
WRITERS = ["core_writer", "website_writer", "mextrack_writer", "pshop_writer"]

pytestmark = pytest.mark.slow  # a cluster of its own, every target migrated into it


PASSWORDS = {
    name: f"s3cret-{name.lower().replace('_', '-')}-Zq8w"
    for name in (
        "WEBSITE_READER_PASSWORD",
        "MEXTRACK_READER_PASSWORD",
        "PSHOP_READER_PASSWORD",
        "CORE_DATABASE_PASSWORD",
        "WEBSITE_DATABASE_PASSWORD",
        "MEXTRACK_DATABASE_PASSWORD",
        "PSHOP_DATABASE_PASSWORD",
        "MIGRATION_STATUS_PASSWORD",
    )
}


def run_logins_scripts(cluster: ScratchCluster) -> None:
    """psql with the Job's options and files, the passwords in its environment (trust auth
    here: what is checked is what each login may do once in)."""
    psql = find_program("psql", server_version(cluster.url()))
    subprocess.run(
        [
            str(psql.path),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--host=127.0.0.1",
            f"--port={cluster.port}",
            "--username=postgres",
            f"--file={BASE / 'reader-logins.sql'}",
            f"--file={BASE / 'service-logins.sql'}",
        ],
        env={**os.environ, "PGDATABASE": TARGETS.get("core").database, **PASSWORDS},
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchCluster]:
    """Every target's database, migrated as the Job migrates them, then the logins scripts run
    twice (the Job runs them at every release)."""
    with ScratchCluster.running(tmp_path_factory.mktemp("logins") / "pg") as cluster:
        # Every statement logged, and pg_stat_statements loaded as monitoring setups have it:
        # where a password written as a literal would show.
        asyncio.run(_as_superuser(cluster, None, *_WATCHED))
        cluster.restart()
        asyncio.run(_as_superuser(cluster, None, "CREATE EXTENSION pg_stat_statements"))
        # Roles of those names from before, granted more, some by another role than the
        # superuser (whose grants a plain revoke leaves).
        asyncio.run(_as_superuser(cluster, None, *_PLANTED_BEFORE))
        for target in TARGETS.select(ALL):
            url = cluster.url(target.database)
            asyncio.run(_create_database(cluster, target.database))
            # As PostgreSQL 14 and older made a database: anyone may create in `public`.
            asyncio.run(
                _as_superuser(cluster, target.name, "GRANT CREATE ON SCHEMA public TO PUBLIC")
            )
            migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
        run_logins_scripts(cluster)
        # Granted between two releases, after the migrations checked the groups.
        asyncio.run(_as_superuser(cluster, None, *_GRANTED_SINCE))
        run_logins_scripts(cluster)
        yield cluster


_WATCHED = (
    "ALTER SYSTEM SET log_statement = 'all'",
    "ALTER SYSTEM SET log_transaction_sample_rate = 1",
    "ALTER SYSTEM SET log_min_duration_sample = 0",
    "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
)
_PLANTED_BEFORE = (
    "CREATE ROLE website_app LOGIN",
    "GRANT pg_execute_server_program, pg_read_all_data TO website_app",
    "CREATE ROLE pshop_reader LOGIN",
    "GRANT pg_read_all_data TO pshop_reader",
    "CREATE ROLE mallory LOGIN CREATEROLE",
    "GRANT pg_read_all_data TO mallory WITH ADMIN OPTION",
    "SET ROLE mallory",
    "CREATE ROLE core_app LOGIN",  # mallory is given ADMIN on what she creates
    "GRANT pg_read_all_data TO core_app",
    "CREATE ROLE mextrack_writer NOLOGIN",
    "RESET ROLE",
)
_GRANTED_SINCE = (
    "GRANT pg_read_all_data TO mextrack_writer",
    "GRANT website_writer TO website_app WITH ADMIN OPTION",
    "GRANT pshop_app TO mallory",
)


async def _as_superuser(cluster: ScratchCluster, target: str | None, *queries: str) -> None:
    database = TARGETS.get(target).database if target else "postgres"
    connection = await asyncpg.connect(cluster.url(database))
    try:
        for query in queries:
            await connection.execute(query)
    finally:
        await connection.close()


async def _create_database(cluster: ScratchCluster, name: str) -> None:
    connection = await asyncpg.connect(cluster.url())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def url_as(cluster: ScratchCluster, login: str, target: str) -> str:
    return cluster.url(TARGETS.get(target).database).replace("postgres@", f"{login}@", 1)


async def connect_as(cluster: ScratchCluster, login: str, target: str) -> asyncpg.Connection:
    return await asyncpg.connect(url_as(cluster, login, target))


async def test_no_service_login_can_do_more_than_a_login_or_idle_in_a_transaction(
    cluster: ScratchCluster,
) -> None:
    connection = await asyncpg.connect(cluster.url())
    try:
        rows = await connection.fetch(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " NOT 'idle_in_transaction_session_timeout=60s' = ANY(rolconfig)"
            " FROM pg_roles WHERE rolname = ANY($1::text[])",
            [*(login for _, login, _ in TABLES), STATUS_LOGIN],
        )
    finally:
        await connection.close()
    assert len(rows) == 5
    assert all(not any(row[1:]) for row in rows), rows


@pytest.mark.parametrize("login", ["core_app", "website_app", "mextrack_app", "pshop_app"])
async def test_a_service_login_reaches_its_own_database_only(
    cluster: ScratchCluster, login: str
) -> None:
    own = {"core_app": "core", "website_app": "website"}.get(login) or login.removesuffix("_app")
    for target in TARGETS.select(ALL):
        if target.name == own:
            connection = await connect_as(cluster, login, target.name)
            await connection.close()
            continue
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
            await connect_as(cluster, login, target.name)


@pytest.mark.parametrize(("target", "login", "table"), TABLES)
async def test_a_service_login_owns_nothing_it_could_turn_against_the_superuser(
    cluster: ScratchCluster, target: str, login: str, table: str
) -> None:
    """An owner may add a trigger to its table, which then runs with the rights of whoever
    writes there next, the superuser who migrates included: the logins only read and write
    rows, and may create nothing in the schema."""
    connection = await connect_as(cluster, login, target)
    try:
        owned = await connection.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole"
        )
        functions = await connection.fetchval(
            "SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole"
        )
        rows = await connection.fetchval(f"SELECT count(*) FROM {table}")
        refused = []
        for attempt in (
            "CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql"
            " AS 'BEGIN RETURN NULL; END'",
            f"CREATE TRIGGER escalate BEFORE UPDATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
            "CREATE TABLE public.planted (id int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(attempt)
            refused.append(attempt)
    finally:
        await connection.close()
    assert (owned, functions) == (0, 0)
    assert rows >= 0
    assert len(refused) == 4


async def test_core_sets_its_pooled_defaults_and_uses_atriz_shared(
    cluster: ScratchCluster,
) -> None:
    pooled = replace(DatabaseSettings.from_env(), pooler=POOLER_TRANSACTION)  # ALTER ROLE
    pool = await create_pool(url_as(cluster, "core_app", "core"), pooled)
    try:
        user = await pool.fetchval(
            "INSERT INTO users (email, password_hash, name) VALUES ('a@example.test', 'x', 'A')"
            " RETURNING id"
        )
        roles = await pool.fetchval("SELECT user_role_names($1)", user)
        defaults = await pool.fetchval(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
            " JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE r.rolname = 'core_app' AND d.datname = current_database()"
        )
    finally:
        await pool.close()
    assert roles == []
    assert any(item.startswith("statement_timeout=") for item in defaults)


async def test_mextrack_creates_and_drops_its_partitions_through_its_functions(
    cluster: ScratchCluster,
) -> None:
    """Only an owner of `positions` may attach or drop a partition: the migrations' functions
    do it as their owner, for mextrack's group alone, and drop nothing but a partition."""
    connection = await connect_as(cluster, "mextrack_app", "mextrack")
    day = (datetime.now(UTC) + timedelta(days=400)).date()
    try:
        created = await connection.fetchval("SELECT ensure_positions_partition($1)", day)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(f'DROP TABLE "{created}"')
        with pytest.raises(asyncpg.InvalidParameterValueError, match="not a partition"):
            await connection.execute("SELECT drop_positions_partition('vehicles')")
        await connection.execute("SELECT drop_positions_partition($1)", created)
        gone = await connection.fetchval("SELECT to_regclass($1)", created)
    finally:
        await connection.close()
    assert created == f"positions_p{day:%Y%m%d}"
    assert gone is None


async def test_pshop_appends_to_its_ledger_and_cannot_change_it(cluster: ScratchCluster) -> None:
    connection = await connect_as(cluster, "pshop_app", "pshop")
    try:
        product = await connection.fetchval(
            "INSERT INTO products (sku, name, price_minor, currency)"
            " VALUES ('T-1', 'Tea', 250, 'EUR') RETURNING id"
        )
        await connection.execute(
            "INSERT INTO stock_movements (product_id, quantity, reason, user_id)"
            " VALUES ($1, 5, 'restock', $2)",
            product,
            uuid.uuid4(),
        )
        for change in (
            "DELETE FROM stock_movements",
            "TRUNCATE stock_movements",
            "ALTER TABLE stock_movements DISABLE TRIGGER stock_movements_append_only",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(change)
        count = await connection.fetchval("SELECT count(*) FROM stock_movements")
    finally:
        await connection.close()
    assert count == 1


def test_the_migration_gate_reads_the_bookkeeping_and_nothing_else(
    cluster: ScratchCluster,
) -> None:
    for target in TARGETS.select(ALL):
        report = status(target, url_as(cluster, STATUS_LOGIN, target.name))
        assert report.pending == [], target.name
        assert report.applied, target.name

    async def read_users() -> None:
        connection = await connect_as(cluster, STATUS_LOGIN, "core")
        try:
            await connection.fetch("SELECT email FROM users")
        finally:
            await connection.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(read_users())


async def test_no_password_reaches_the_servers_log_or_its_statement_statistics(
    cluster: ScratchCluster,
) -> None:
    """The scripts set each password as a literal: with every statement logged and
    pg_stat_statements tracking utility statements, none may be written down."""
    log = "\n".join(p.read_text(errors="replace") for p in cluster.pgdata.parent.glob("*.log"))
    connection = await asyncpg.connect(cluster.url())
    try:
        tracked = "\n".join(
            row[0] for row in await connection.fetch("SELECT query FROM pg_stat_statements")
        )
    finally:
        await connection.close()

    # Statements of the sessions after `\\connect`, which set no password, are recorded.
    assert "ALTER DEFAULT PRIVILEGES IN SCHEMA public" in log, "the log records statements"
    assert "ON SCHEMA public TO" in tracked, "the view records utility statements"
    assert [name for name, password in PASSWORDS.items() if password in log + tracked] == []


async def test_every_role_of_the_scripts_holds_and_gives_only_the_expected_memberships(
    cluster: ScratchCluster,
) -> None:
    """Whatever was granted before or since, by the superuser or another role: each login is
    in its group only, without ADMIN OPTION, no group is in any role, and nobody else is in a
    group or a login."""
    readers = [f"{app}_reader" for app in ("website", "mextrack", "pshop")]
    logins = [login for _, login, _ in TABLES]
    connection = await asyncpg.connect(cluster.url())
    try:
        rows = await connection.fetch(
            "SELECT m.rolname, g.rolname, a.admin_option FROM pg_auth_members a"
            " JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"
            " WHERE g.rolname = ANY($1::text[]) OR m.rolname = ANY($1::text[])",
            [*logins, *WRITERS, *readers, STATUS_LOGIN, "atriz_app_reader"],
        )
    finally:
        await connection.close()
    expected = [*zip(logins, WRITERS, strict=True), *((r, "atriz_app_reader") for r in readers)]
    assert sorted(tuple(row) for row in rows) == sorted((*pair, False) for pair in expected)


async def test_mextrack_makes_no_partition_outside_the_days_it_stores(
    cluster: ScratchCluster,
) -> None:
    connection = await connect_as(cluster, "mextrack_app", "mextrack")
    try:
        with pytest.raises(asyncpg.InvalidParameterValueError, match="outside 1970 to 9998"):
            await connection.execute("SELECT ensure_positions_partition('0044-03-15')")
    finally:
        await connection.close()


def test_a_group_role_made_before_with_more_rights_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A role named like a service's group that can log in, holds an attribute or belongs to
    another role would hand all that to the service's login: the migration stops instead."""
    website = TARGETS.get("website")
    with ScratchCluster.running(tmp_path_factory.mktemp("planted") / "pg") as other:
        asyncio.run(
            _as_superuser(
                other,
                None,
                "CREATE ROLE website_writer NOLOGIN",
                "GRANT pg_execute_server_program TO website_writer",
                f'CREATE DATABASE "{website.database}"',
            )
        )
        with pytest.raises(MigrationError, match="website_writer exists with more"):
            migrate(
                website,
                other.url(website.database),
                requirement_met=lambda _: True,
                out=lambda _: None,
            )
