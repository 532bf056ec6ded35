"""Test databases copied from a session's template are what the migrations make, to the last
database-level setting and privilege, which `CREATE DATABASE ... TEMPLATE` does not copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.abc import Query

from atriz_core.testing import DatabaseFactory
from atriz_core.testing.templates import STALE_AFTER, DatabaseTemplates
from atriz_database.cloning import drop_template, seal_template
from atriz_database.connections import create_database, database_exists, drop_database
from atriz_database.migrations import BOOKKEEPING_TABLES
from atriz_database.targets import TargetRegistry
from atriz_database.testing import MakeDatabase, sample_target, write_migration
from atriz_database.urls import maintenance_url, with_database

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

# What a database holds, each as a query whose rows are compared as a set.
SCHEMA = {
    "columns": "SELECT table_schema, table_name, column_name, ordinal_position, data_type,"
    " column_default, is_nullable FROM information_schema.columns"
    " WHERE table_schema <> ALL(%(system)s)",
    "relations": "SELECT n.nspname, c.relname, c.relkind, c.relacl::text FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> ALL(%(system)s)",
    "indexes": "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname <> ALL(%(system)s)",
    "constraints": "SELECT n.nspname, c.conrelid::regclass::text, c.conname,"
    " pg_get_constraintdef(c.oid) FROM pg_constraint c"
    " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname <> ALL(%(system)s)",
    "functions": "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),"
    " p.prosrc, p.proacl::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname <> ALL(%(system)s)",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    " WHERE NOT tgisinternal",
    "schemas": "SELECT nspname, nspacl::text FROM pg_namespace",
    "migrations": "SELECT migration_id, migration_hash FROM _yoyo_migration",
    "checksums": "SELECT migration_id, checksum FROM atriz_migration_checksums",
}
# Asked of the server about the database (`%(name)s`): none of it lives inside it.
DATABASE = {
    "settings": "SELECT coalesce(r.rolname, ''), s.setconfig FROM pg_db_role_setting s"
    " JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole"
    " WHERE d.datname = %(name)s",
    "privileges": "SELECT d.datacl IS NULL, pg_get_userbyid(a.grantor),"
    " coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.privilege_type,"
    " a.is_grantable FROM pg_database d LEFT JOIN aclexplode(d.datacl) a ON true"
    " WHERE d.datname = %(name)s",
    "options": "SELECT datallowconn, datistemplate, datconnlimit, encoding, datcollate,"
    " pg_get_userbyid(datdba) FROM pg_database WHERE datname = %(name)s",
}
# Rows written by the seeds, but for columns that depend on when they were written.
TABLES = (
    "SELECT c.oid::regclass::text, array_agg(a.attname::text ORDER BY a.attnum) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
    " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL(%(system)s)"
    " AND NOT c.relname = ANY(%(bookkeeping)s)"
    " AND NOT format_type(a.atttypid, NULL) LIKE ANY"
    " (ARRAY['timestamp%%', 'date', 'time%%', 'tsvector'])"
    " AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') NOT LIKE '%%gen_random%%'"
    " GROUP BY c.oid"
)


def _rows(
    connection: psycopg.Connection[Any], query: Query, **params: Any
) -> list[tuple[Any, ...]]:
    return sorted(connection.execute(query, params).fetchall(), key=repr)


def describe(url: str, *, rows: bool) -> dict[str, Any]:
    """Everything about the database at `url` that a test could tell apart, but for when it
    was made; with `rows`, the contents of its tables too."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(maintenance_url(url)) as server:
        found = {key: _rows(server, query, name=name) for key, query in DATABASE.items()}
    with psycopg.connect(url) as connection:
        system = list(SYSTEM_SCHEMAS)
        found |= {key: _rows(connection, query, system=system) for key, query in SCHEMA.items()}
        if rows:
            tables = connection.execute(
                TABLES, {"system": system, "bookkeeping": list(BOOKKEEPING_TABLES)}
            ).fetchall()
            for table, columns in tables:
                values = (sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(values),
                    sql.SQL(table),  # a regclass name, quoted by PostgreSQL
                )
                found[f"rows of {table}"] = _rows(connection, query)
    return found


def applied_at(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return _rows(connection, "SELECT migration_id, applied_at_utc FROM _yoyo_migration")


@pytest.fixture
def templates(postgres_server_url: str) -> Iterator[DatabaseTemplates]:
    """Templates of this test's own, made in it."""
    made = DatabaseTemplates(postgres_server_url)
    yield made
    made.drop()


def assert_copied_like_migrated(
    make_database: MakeDatabase, templates: DatabaseTemplates, target: Any, *, seeded: bool
) -> None:
    migrated = DatabaseFactory(make_database)(target, seeded=seeded)
    copying = DatabaseFactory(make_database, templates=templates)
    first, second = copying(target, seeded=seeded), copying(target, seeded=seeded)

    # Two copies of one template share even the time each migration was applied.
    assert applied_at(first.url) == applied_at(second.url) != applied_at(migrated.url)
    assert second.applied == migrated.applied
    assert describe(second.url, rows=seeded) == describe(migrated.url, rows=seeded)


@pytest.mark.parametrize("seeded", [False, True], ids=["migrated", "seeded"])
@pytest.mark.parametrize("target", TargetRegistry.from_entry_points().names)
def test_a_copy_is_what_the_migrations_make(
    target: str, seeded: bool, make_database: MakeDatabase, templates: DatabaseTemplates
) -> None:
    assert_copied_like_migrated(make_database, templates, target, seeded=seeded)


def test_a_copy_gets_the_database_settings_and_privileges_of_its_template(
    make_database: MakeDatabase, templates: DatabaseTemplates, tmp_path: Path
) -> None:
    target = sample_target(tmp_path / "sample")
    write_migration(
        target,
        "0001_configure_database",
        """
        DO $$
        DECLARE
            db text := current_database();
        BEGIN
            EXECUTE format(
                'ALTER DATABASE %I SET search_path = "$user", public, "odd, ""quoted"" name"', db
            );
            EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', db, '7s');
            EXECUTE format('ALTER ROLE CURRENT_USER IN DATABASE %I SET work_mem = %L', db, '8MB');
            EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', db);
            EXECUTE format('GRANT CREATE ON DATABASE %I TO PUBLIC', db);
        END
        $$;
        """,
    )

    assert_copied_like_migrated(make_database, templates, target, seeded=False)


def test_a_database_is_migrated_when_its_template_cannot_be_copied(
    make_database: MakeDatabase, templates: DatabaseTemplates
) -> None:
    factory = DatabaseFactory(make_database, templates=templates)
    first = factory("core")
    for url in templates.urls:
        drop_template(url)

    again = factory("core")

    assert again.applied == first.applied
    assert applied_at(again.url) != applied_at(first.url)  # migrated, not copied


def test_templates_of_sessions_long_over_are_dropped(
    postgres_server_url: str, templates: DatabaseTemplates, make_database: MakeDatabase
) -> None:
    old = (datetime.now(UTC) - STALE_AFTER).strftime("%Y%m%d%H%M%S")
    stale = with_database(postgres_server_url, f"atriz_tpl_{old}_dead00_0_core")
    create_database(stale)
    seal_template(stale)
    DatabaseFactory(make_database, templates=templates)("core")
    unrelated = with_database(postgres_server_url, "atriz_tpl_not_a_template")
    create_database(unrelated)
    try:
        dropped = templates.drop_stale()

        assert psycopg.conninfo.conninfo_to_dict(stale)["dbname"] in dropped
        assert not database_exists(stale)
        assert templates.urls
        assert all(database_exists(url) for url in templates.urls)
        assert database_exists(unrelated)
    finally:
        drop_template(stale)
        drop_database(unrelated)
