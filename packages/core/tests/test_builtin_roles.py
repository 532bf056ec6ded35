"""Core on migrations alone, as in production (where seeds are refused): the built-in roles are
there, so a new user gets `user` and `atriz users create-admin` can grant `admin`."""

from __future__ import annotations

from pathlib import Path

import psycopg

from atriz_core.db import target
from atriz_core.settings import CoreSettings
from atriz_core.testing import TEST_AUDIENCES, TEST_ISSUER, running_core
from atriz_database import Environment
from atriz_database.migrations import applied_migration_ids, migrate, rollback
from atriz_database.testing import MakeDatabase, clean_environment, run_script

BUILT_IN = [
    "admin",
    "mextrack.dispatcher",
    "pshop.cashier",
    "pshop.manager",
    "user",
    "website.editor",
]
MIGRATION = "20261202_100000_insert_builtin_roles"


def migrated_without_seeds(make_database: MakeDatabase) -> str:
    url = make_database("core")
    migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
    return url


def role_names(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT name FROM roles ORDER BY name").fetchall()
    return [str(row[0]) for row in rows]


async def test_core_runs_on_migrations_alone(make_database: MakeDatabase, tmp_path: Path) -> None:
    url = migrated_without_seeds(make_database)
    settings = CoreSettings(
        database_url=url,
        environment=Environment.TEST,
        public_url="https://auth.atriz.test",
        issuer=TEST_ISSUER,
        audiences=TEST_AUDIENCES,
        signing_key_dir=tmp_path / "keys",
    )
    assert role_names(url) == BUILT_IN

    created = run_script(
        "atriz",
        "users",
        "create-admin",
        "root@example.test",
        env=clean_environment(tmp_path, SHARED_DATABASE_URL=url),
        stdin="a root passphrase nobody guesses\n",
    )
    assert created.returncode == 0, created.stderr

    async with running_core(settings) as core:
        await core.register()
        me = await core.client.get("/auth/me", headers=core.bearer(await core.login()))
        admin = core.bearer(
            await core.login("root@example.test", "a root passphrase nobody guesses")
        )
        roles = await core.client.get("/admin/roles", headers=admin)

    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["user"]
    assert roles.status_code == 200, roles.text
    assert [role["name"] for role in roles.json()] == BUILT_IN


def test_rollback_keeps_the_roles_someone_holds(make_database: MakeDatabase) -> None:
    url = migrated_without_seeds(make_database)
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO users (email, password_hash, name) VALUES ('ana@example.test', 'x', 'Ana')"
        )
        connection.execute(
            "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
            " WHERE r.name = 'pshop.cashier'"
        )
    applied = applied_migration_ids(url)
    since = len(applied) - applied.index(MIGRATION)

    rollback(target, url, count=since, out=lambda _: None)
    assert role_names(url) == ["pshop.cashier"]

    migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
    assert role_names(url) == BUILT_IN
