"""Login: tokens, identical failures, rehashing, account lockout and the per-address limit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from atriz_core.app import create_app
from atriz_core.testing import TEST_PASSWORD, CoreHarness, FrozenClock, MemoryMailer


async def attempt(core_harness: CoreHarness, email: str, password: str) -> Any:
    return await core_harness.client.post(
        "/auth/login", json={"email": email, "password": password}
    )


async def lock_seconds(core_harness: CoreHarness) -> float:
    locked_until = await core_harness.sql_value("SELECT locked_until FROM users")
    seconds: float = (locked_until - core_harness.clock.now()).total_seconds()
    return seconds


@pytest.mark.pgbouncer
async def test_login_answers_with_a_bearer_token_pair(core_harness: CoreHarness) -> None:
    await core_harness.register()
    tokens = await core_harness.login()

    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert len(tokens["refresh_token"]) >= 43  # 256 bits, base64url
    stored = await core_harness.sql_value(
        "SELECT count(*) FROM auth_tokens WHERE token_hash = sha256($1::text::bytea)",
        tokens["refresh_token"],
    )
    assert stored == 1, "only the hash of the refresh token is stored"


async def test_unknown_email_wrong_password_and_locked_account_answer_alike(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    unknown = await attempt(core_harness, "nobody@example.test", TEST_PASSWORD)
    wrong = await attempt(core_harness, "ana@example.test", "not the password")
    for _ in range(core_harness.settings.login_max_failures):
        await attempt(core_harness, "ana@example.test", "not the password")
    locked = await attempt(core_harness, "ana@example.test", TEST_PASSWORD)

    assert unknown.status_code == wrong.status_code == locked.status_code == 401
    bodies = [
        {k: v for k, v in r.json().items() if k != "request_id"} for r in (unknown, wrong, locked)
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert unknown.headers["content-type"] == wrong.headers["content-type"]


@pytest.mark.pgbouncer
async def test_lock_grows_to_a_cap_expires_and_a_success_resets_it(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    settings = core_harness.settings
    for _ in range(settings.login_max_failures):
        assert (await attempt(core_harness, "ana@example.test", "wrong")).status_code == 401
    locked_until = await core_harness.sql_value("SELECT locked_until FROM users")
    assert (
        locked_until - core_harness.clock.now()
    ).total_seconds() == settings.lockout_base_seconds

    # While locked, even the right password fails; once the lock expires it works again.
    assert (await attempt(core_harness, "ana@example.test", TEST_PASSWORD)).status_code == 401
    core_harness.clock.advance(settings.lockout_base_seconds + 1)
    # Another failure after the lock locks again for twice as long.
    assert (await attempt(core_harness, "ana@example.test", "wrong")).status_code == 401
    locked_until = await core_harness.sql_value("SELECT locked_until FROM users")
    assert (
        locked_until - core_harness.clock.now()
    ).total_seconds() == 2 * settings.lockout_base_seconds

    for _ in range(12):  # the wait doubles each time, up to the cap
        core_harness.clock.advance(settings.lockout_max_seconds + 1)
        await attempt(core_harness, "ana@example.test", "wrong")
    assert await lock_seconds(core_harness) == settings.lockout_max_seconds

    core_harness.clock.advance(settings.lockout_max_seconds + 1)
    await core_harness.login()
    assert await core_harness.sql_value("SELECT failed_login_count FROM users") == 0
    assert await core_harness.sql_value("SELECT locked_until FROM users") is None


async def test_a_deactivated_user_cannot_log_in(core_harness: CoreHarness) -> None:
    await core_harness.register()
    await core_harness.sql_value("UPDATE users SET is_active = false")

    response = await attempt(core_harness, "ana@example.test", TEST_PASSWORD)

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid e-mail or password"


async def test_a_hash_with_old_parameters_is_rehashed_at_login(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    old_hash = await core_harness.sql_value("SELECT password_hash FROM users")
    assert "t=2" in old_hash
    stronger = replace(core_harness.settings, argon2_time_cost=3)
    app = create_app(stronger, clock=FrozenClock(), mailer=MemoryMailer())

    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/auth/login", json={"email": "ana@example.test", "password": TEST_PASSWORD}
        )
        assert response.status_code == 200

    new_hash = await core_harness.sql_value("SELECT password_hash FROM users")
    assert "t=3" in new_hash
    assert new_hash != old_hash
    await core_harness.login()  # the new hash still verifies


async def test_failed_and_successful_logins_are_audited_without_secrets(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    await attempt(core_harness, "ana@example.test", "wrong password here")
    await core_harness.login()

    events = await core_harness.sql_value(
        "SELECT array_agg(event_type || ':' || coalesce(details->>'reason', '') ORDER BY id)"
        " FROM auth_events",
    )
    assert events == ["register:", "login_failed:wrong_password", "login:"]
    details = await core_harness.sql_value("SELECT string_agg(details::text, ' ') FROM auth_events")
    assert "wrong password here" not in details
    assert TEST_PASSWORD not in details
