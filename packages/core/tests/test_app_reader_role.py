"""The least-privilege role apps use on atriz_shared, and user reference checks through it."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from atriz_core.client import UnknownUserError, check_users
from atriz_core.testing import CoreHarness


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
    await check_users(app_reader, [ana, bob, ana])

    stranger = uuid.uuid4()
    with pytest.raises(UnknownUserError) as failure:
        await check_users(app_reader, [ana, stranger], field="driver_id")
    assert failure.value.missing == [stranger]
    assert failure.value.problems[0].field == "driver_id"

    admin = await asyncpg.connect(core_harness.settings.database_url)
    await admin.execute("UPDATE users SET is_active = false WHERE id = $1", bob)
    await admin.close()
    with pytest.raises(UnknownUserError):
        await check_users(app_reader, [bob])
    await check_users(app_reader, [])
