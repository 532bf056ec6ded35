"""Core records the events the apps need, in the transaction of the change, at the time of
core's clock, and wakes them (NOTIFY) when it commits."""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import pytest

from atriz_core.db import target
from atriz_core.testing import CoreHarness
from atriz_database.migrations import applied_migration_ids, migrate, rollback

NEW_PASSWORD = "another long and unusual passphrase"
MIGRATION = "20261202_120000_revocation_events"


async def events(core: CoreHarness) -> list[tuple[str, str]]:
    rows = await core.sql_rows(
        "SELECT user_id::text, event_type FROM user_events ORDER BY txid, id"
    )
    return [(row["user_id"], row["event_type"]) for row in rows]


async def test_logout_everywhere_is_announced(core_harness: CoreHarness) -> None:
    user = await core_harness.register()
    session = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/logout-all", headers=core_harness.bearer(session)
    )

    assert response.is_success
    assert await events(core_harness) == [(user["id"], "sessions_revoked")]


async def test_a_password_change_is_announced(core_harness: CoreHarness) -> None:
    user = await core_harness.register()
    session = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/password",
        json={"current_password": "a long and unusual passphrase", "new_password": NEW_PASSWORD},
        headers=core_harness.bearer(session),
    )

    assert response.status_code == 204
    assert await events(core_harness) == [(user["id"], "sessions_revoked")]


async def test_a_wrong_current_password_announces_nothing(core_harness: CoreHarness) -> None:
    await core_harness.register()
    session = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/password",
        json={"current_password": "not the password at all", "new_password": NEW_PASSWORD},
        headers=core_harness.bearer(session),
    )

    assert response.status_code == 422
    assert await events(core_harness) == []


async def test_a_password_reset_is_announced(core_harness: CoreHarness) -> None:
    user = await core_harness.register()
    await core_harness.client.post(
        "/auth/password-reset/request", json={"email": "ana@example.test"}
    )
    token = core_harness.mailer.last_token("ana@example.test")

    response = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert await events(core_harness) == [(user["id"], "sessions_revoked")]


async def test_role_changes_are_announced(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    user = await core_harness.register()
    roles = f"/admin/users/{user['id']}/roles"

    # No session yet: a grant revokes nothing, and nobody holds a token to refuse.
    first = await core_harness.client.post(roles, json={"role": "pshop.cashier"}, headers=admin)
    assert first.status_code == 204
    assert await events(core_harness) == []

    await core_harness.login()
    granted = await core_harness.client.post(roles, json={"role": "pshop.manager"}, headers=admin)
    taken = await core_harness.client.delete(f"{roles}/pshop.cashier", headers=admin)
    again = await core_harness.client.post(roles, json={"role": "pshop.manager"}, headers=admin)

    assert (granted.status_code, taken.status_code, again.status_code) == (204, 204, 204)
    # The grant of a role the user holds already changes nothing, and says nothing.
    assert await events(core_harness) == [
        (user["id"], "roles_changed"),
        (user["id"], "roles_changed"),
    ]


async def test_an_event_carries_core_clocks_time(core_harness: CoreHarness) -> None:
    """The time tokens are compared with: core's clock, the one their `iat` comes from."""
    admin = await core_harness.admin_headers()
    user = await core_harness.register()
    core_harness.clock.advance(60)  # the database's now() stays behind

    response = await core_harness.client.post(
        f"/admin/users/{user['id']}/deactivate", headers=admin
    )

    assert response.status_code == 204
    created_at = await core_harness.sql_value("SELECT created_at FROM user_events")
    assert created_at == core_harness.clock.now()


async def test_core_notifies_at_commit_without_personal_data(
    core_harness: CoreHarness, app_reader: asyncpg.Connection
) -> None:
    heard: list[tuple[str, str]] = []
    await app_reader.add_listener(
        "atriz_user_events", lambda _c, _pid, channel, payload: heard.append((channel, payload))
    )
    admin = await core_harness.admin_headers()
    user = await core_harness.register()

    connection = await asyncpg.connect(core_harness.settings.database_url)
    try:
        # A change that rolls back wakes nobody; one in progress not yet.
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(
            "INSERT INTO user_events (user_id, event_type) VALUES ($1, 'deactivated')",
            user["id"],
        )
        await asyncio.sleep(0.2)
        assert heard == []
        await transaction.rollback()
    finally:
        await connection.close()
    await asyncio.sleep(0.2)
    assert heard == []

    response = await core_harness.client.post(
        f"/admin/users/{user['id']}/deactivate", headers=admin
    )
    assert response.status_code == 204
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == [("atriz_user_events", "")]


def test_the_migration_rolls_back_and_applies_again(core_database_url: str) -> None:
    applied = applied_migration_ids(core_database_url)
    since = len(applied) - applied.index(MIGRATION)
    with psycopg.connect(core_database_url) as connection:
        user_id = connection.execute(
            "INSERT INTO users (email, password_hash, name) VALUES ('r@example.test', 'x', 'R')"
            " RETURNING id"
        ).fetchone()
        assert user_id is not None
        connection.execute(
            "INSERT INTO user_events (user_id, event_type) VALUES (%s, 'roles_changed'),"
            " (%s, 'deactivated')",
            (user_id[0], user_id[0]),
        )

    rollback(target, core_database_url, count=since, out=lambda _: None)
    with psycopg.connect(core_database_url) as connection:
        kinds = connection.execute("SELECT event_type FROM user_events").fetchall()
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "INSERT INTO user_events (user_id, event_type) VALUES (%s, 'roles_changed')",
                (user_id[0],),
            )
    assert kinds == [("deactivated",)]

    migrate(target, core_database_url, requirement_met=lambda _: True, out=lambda _: None)
    assert applied_migration_ids(core_database_url) == applied
