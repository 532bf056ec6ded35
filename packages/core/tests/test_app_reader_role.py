"""The least-privilege role apps use on atriz_shared, and user reference checks through it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from atriz_core.client import UnknownUserError, hold_users
from atriz_core.db import target
from atriz_core.errors import AuthenticationError
from atriz_core.testing import CoreHarness, beside
from atriz_database.connections import drop_database
from atriz_database.errors import MigrationError
from atriz_database.migrations import applied_migration_ids, migrate, rollback
from atriz_database.testing import MakeDatabase, sample_target, write_migration
from atriz_database.urls import with_credentials

HARDENING = "20261202_110000_harden_app_reader"


@contextmanager
def server_role(server_url: str, attributes: str) -> Iterator[tuple[str, str]]:
    """A role of its own for one test (roles are cluster-wide, and other tests run beside this
    one on the same server): its name and password, dropped afterwards."""
    name, password = f"atriz_test_role_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{name}\" {attributes} PASSWORD '{password}'")
        try:
            yield name, password
        finally:
            admin.execute(f'DROP ROLE "{name}"')


async def test_apps_cannot_read_password_hashes_or_tokens(
    core_harness: CoreHarness, app_reader: asyncpg.Connection
) -> None:
    await core_harness.register()
    await core_harness.login()

    for forbidden in (
        "SELECT password_hash FROM users",
        "SELECT * FROM users",
        "SELECT token_hash FROM auth_tokens",
        "SELECT count(*) FROM auth_tokens",
        "SELECT count(*) FROM auth_events",
        "SELECT failed_login_count FROM users",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await app_reader.fetch(forbidden)


async def test_apps_can_read_what_they_need(
    core_harness: CoreHarness, app_reader: asyncpg.Connection
) -> None:
    await core_harness.register()

    user = await app_reader.fetchrow(
        "SELECT id, email, name, is_active, email_verified_at, deleted_at FROM users"
    )
    grants = await app_reader.fetchval(
        "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
    )

    assert user is not None
    assert user["email"] == "ana@example.test"
    assert grants == 1
    assert await app_reader.fetchval("SELECT count(*) FROM user_events") == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_reader.execute("UPDATE users SET name = 'x'")


async def test_user_references_are_checked_in_one_query(
    core_harness: CoreHarness, app_reader: asyncpg.Connection
) -> None:
    ana = uuid.UUID((await core_harness.register())["id"])
    bob = uuid.UUID((await core_harness.register(email="bob@example.test", name="Bob"))["id"])
    app = await beside(core_harness.settings.database_url)  # stands in for an app's database
    try:
        async with app.transaction():
            await hold_users(app, app_reader, [ana, bob, ana])

        stranger = uuid.uuid4()
        with pytest.raises(UnknownUserError) as failure:
            async with app.transaction():
                await hold_users(app, app_reader, [ana, stranger], field="driver_id")
        assert failure.value.missing == [stranger]
        assert failure.value.problems[0].field == "driver_id"

        await app.execute("UPDATE users SET is_active = false WHERE id = $1", bob)
        with pytest.raises(UnknownUserError):
            async with app.transaction():
                await hold_users(app, app_reader, [bob])
        with pytest.raises(AuthenticationError):
            async with app.transaction():
                await hold_users(app, app_reader, [ana], signed_in=bob)
        async with app.transaction():
            await hold_users(app, app_reader, [])
        with pytest.raises(RuntimeError):
            await hold_users(app, app_reader, [ana])  # a hold outside a transaction ends at once
    finally:
        await app.close()


@pytest.mark.parametrize(
    ("attributes", "reported"),
    [
        ("LOGIN", "LOGIN"),
        ("CREATEROLE", "CREATEROLE"),
        ("SUPERUSER", "SUPERUSER"),
        ("CREATEDB", "CREATEDB"),
        ("REPLICATION", "REPLICATION"),
        ("BYPASSRLS", "BYPASSRLS"),
        ("IN ROLE pg_read_all_data", "member of pg_read_all_data"),
        ("LOGIN CREATEROLE", "LOGIN, CREATEROLE"),
    ],
)
def test_the_reader_role_check_refuses_any_other_right(
    core_database_url: str, postgres_server_url: str, attributes: str, reported: str
) -> None:
    with (
        server_role(postgres_server_url, attributes) as (name, _),
        psycopg.connect(core_database_url, autocommit=True) as connection,
    ):
        with pytest.raises(psycopg.errors.RaiseException) as refused:
            connection.execute("SELECT check_app_reader_role(%s)", (name,))
        assert f"role {name} exists with rights an app reader must not have ({reported})" in str(
            refused.value
        )


def test_the_reader_role_check_accepts_a_plain_group(
    core_database_url: str, postgres_server_url: str
) -> None:
    with (
        server_role(postgres_server_url, "NOLOGIN") as (name, _),
        psycopg.connect(core_database_url, autocommit=True) as connection,
    ):
        connection.execute("SELECT check_app_reader_role(%s)", (name,))
        connection.execute("SELECT check_app_reader_role('atriz_app_reader')")


def test_db_migrate_stops_at_a_reader_role_with_other_rights(
    tmp_path: Path, empty_database_url: str, postgres_server_url: str
) -> None:
    """The real migration, run against a role of the test's own in place of atriz_app_reader,
    which this test must not spoil for the tests running beside it."""
    migration = target.migrations / f"{HARDENING}.sql"
    with server_role(postgres_server_url, "LOGIN CREATEROLE") as (name, _):
        sample = sample_target(tmp_path / "sample")
        write_migration(
            sample,
            HARDENING,
            migration.read_text(encoding="utf-8").replace("atriz_app_reader", name),
        )
        with pytest.raises(MigrationError) as refused:
            migrate(sample, empty_database_url, requirement_met=lambda _: True, out=lambda _: None)

    assert f"{HARDENING}.sql" in str(refused.value)
    assert f"role {name} exists with rights an app reader must not have (LOGIN, CREATEROLE)" in (
        str(refused.value)
    )
    assert applied_migration_ids(empty_database_url) == []


async def test_only_the_apps_readers_may_connect(
    core_database_url: str, postgres_server_url: str, app_reader: asyncpg.Connection
) -> None:
    with (
        server_role(postgres_server_url, "LOGIN") as (name, password),
        pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"),
    ):
        await asyncpg.connect(with_credentials(core_database_url, name, password))

    assert await app_reader.fetchval("SELECT 1") == 1
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_reader.execute("CREATE TEMPORARY TABLE scratch (n int)")
    assert not await app_reader.fetchval(
        "SELECT has_database_privilege('public', current_database(), 'CONNECT, TEMPORARY')"
    )


def test_an_owner_without_superuser_rights_migrates_and_still_connects(
    make_database: MakeDatabase, postgres_server_url: str
) -> None:
    """Production's shape: core migrates and runs as the owner of atriz_shared, no superuser."""
    url = make_database("core")
    database = conninfo_to_dict(url)["dbname"]
    with server_role(postgres_server_url, "LOGIN CREATEROLE") as (owner, password):
        try:
            with psycopg.connect(postgres_server_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{owner}"')
            owner_url = with_credentials(url, owner, password)
            migrate(target, owner_url, requirement_met=lambda _: True, out=lambda _: None)
            with psycopg.connect(owner_url) as connection:
                row = connection.execute("SELECT count(*) FROM roles").fetchone()
            assert row is not None
            assert row[0] > 0
        finally:
            # The owner role can be dropped only once nothing it owns is left.
            drop_database(url)


def test_app_roles_get_an_idle_transaction_limit(core_database_url: str) -> None:
    with psycopg.connect(core_database_url) as connection:
        row = connection.execute(
            "SELECT rolconfig FROM pg_roles WHERE rolname = 'atriz_app_reader'"
        ).fetchone()
    assert row is not None
    assert "idle_in_transaction_session_timeout=60s" in row[0]


def test_the_hardening_rolls_back_and_applies_again(core_database_url: str) -> None:
    applied = applied_migration_ids(core_database_url)
    since = len(applied) - applied.index(HARDENING)

    rollback(target, core_database_url, count=since, out=lambda _: None)
    with psycopg.connect(core_database_url) as connection:
        row = connection.execute(
            "SELECT has_database_privilege('public', current_database(), 'CONNECT'),"
            " to_regprocedure('check_app_reader_role(text)') IS NULL"
        ).fetchone()
    assert row == (True, True)

    migrate(target, core_database_url, requirement_met=lambda _: True, out=lambda _: None)
    assert applied_migration_ids(core_database_url) == applied
