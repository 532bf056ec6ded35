"""Password change, password reset and e-mail verification."""

from __future__ import annotations

from typing import Any

from atriz_core.testing import TEST_PASSWORD, CoreHarness

NEW_PASSWORD = "another long passphrase entirely"


async def refresh_status(core_harness: CoreHarness, token: str) -> int:
    response = await core_harness.client.post("/auth/refresh", json={"refresh_token": token})
    return response.status_code


async def login_status(core_harness: CoreHarness, password: str) -> int:
    response = await core_harness.client.post(
        "/auth/login", json={"email": "ana@example.test", "password": password}
    )
    return response.status_code


async def test_password_change_ends_every_other_session(core_harness: CoreHarness) -> None:
    await core_harness.register()
    here = await core_harness.login()
    elsewhere = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        headers=core_harness.bearer(here),
    )

    assert response.status_code == 204
    assert await refresh_status(core_harness, elsewhere["refresh_token"]) == 401
    # At core, at once: the other session's access token is refused, the caller's still works
    # (its session stays), in the very second of the change.
    me_elsewhere = await core_harness.client.get("/auth/me", headers=core_harness.bearer(elsewhere))
    assert me_elsewhere.status_code == 401
    assert me_elsewhere.json()["detail"] == "the session has ended; sign in again"
    me_here = await core_harness.client.get("/auth/me", headers=core_harness.bearer(here))
    assert me_here.status_code == 200
    refreshed = await core_harness.client.post(
        "/auth/refresh", json={"refresh_token": here["refresh_token"]}
    )
    assert refreshed.status_code == 200
    me_again = await core_harness.client.get(
        "/auth/me", headers=core_harness.bearer(refreshed.json())
    )
    assert me_again.status_code == 200
    assert await login_status(core_harness, TEST_PASSWORD) == 401
    assert await login_status(core_harness, NEW_PASSWORD) == 200


async def test_password_change_checks_the_current_password_and_the_policy(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    tokens = await core_harness.login()

    wrong = await core_harness.client.post(
        "/auth/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=core_harness.bearer(tokens),
    )
    weak = await core_harness.client.post(
        "/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": "password"},
        headers=core_harness.bearer(tokens),
    )

    assert wrong.status_code == 422
    assert wrong.json()["errors"] == [{"field": "current_password", "reason": "is not correct"}]
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "new_password"
    assert await login_status(core_harness, TEST_PASSWORD) == 200


async def request_reset(core_harness: CoreHarness, email: str) -> Any:
    return await core_harness.client.post(
        "/auth/password-reset/request", json={"email": email}, headers={"Host": "evil.example"}
    )


async def test_reset_request_answers_the_same_for_unknown_addresses(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    core_harness.mailer.sent.clear()

    known = await request_reset(core_harness, "ana@example.test")
    unknown = await request_reset(core_harness, "nobody@example.test")

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    (mail,) = core_harness.mailer.sent
    assert mail.to == "ana@example.test"
    assert "https://auth.atriz.test/auth/password-reset?token=" in mail.body
    assert "evil.example" not in mail.body


async def test_reset_token_works_once_and_ends_every_session(core_harness: CoreHarness) -> None:
    await core_harness.register()
    session = await core_harness.login()
    await request_reset(core_harness, "ana@example.test")
    token = core_harness.mailer.last_token("ana@example.test")

    first = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    second = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "third passphrase x"}
    )

    assert first.status_code == 204
    assert second.status_code == 422
    assert second.json()["errors"][0]["field"] == "token"
    assert await refresh_status(core_harness, session["refresh_token"]) == 401
    assert await login_status(core_harness, NEW_PASSWORD) == 200
    assert (
        await core_harness.sql_value(
            "SELECT count(*) FROM auth_events WHERE event_type = 'password_reset'"
        )
        == 1
    )


async def test_reset_token_expires(core_harness: CoreHarness) -> None:
    await core_harness.register()
    await request_reset(core_harness, "ana@example.test")
    token = core_harness.mailer.last_token("ana@example.test")
    core_harness.clock.advance(core_harness.settings.password_reset_seconds + 1)

    response = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 422
    assert await login_status(core_harness, TEST_PASSWORD) == 200


async def test_a_weak_new_password_does_not_spend_the_reset_token(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    await request_reset(core_harness, "ana@example.test")
    token = core_harness.mailer.last_token("ana@example.test")

    weak = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "12345678"}
    )
    strong = await core_harness.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert weak.status_code == 422
    assert strong.status_code == 204


async def test_email_verification_confirms_the_address_once(core_harness: CoreHarness) -> None:
    await core_harness.register()
    tokens = await core_harness.login()
    token = core_harness.mailer.last_token("ana@example.test")

    confirmed = await core_harness.client.post("/auth/verify-email/confirm", json={"token": token})
    replayed = await core_harness.client.post("/auth/verify-email/confirm", json={"token": token})

    assert confirmed.status_code == 204
    assert replayed.status_code == 422
    me = await core_harness.client.get("/auth/me", headers=core_harness.bearer(tokens))
    assert me.json()["email_verified"] is True
    again = await core_harness.client.post(
        "/auth/verify-email/request", headers=core_harness.bearer(tokens)
    )
    assert again.json() == {"detail": "the address is verified"}


async def test_a_new_verification_link_replaces_the_old_one(core_harness: CoreHarness) -> None:
    await core_harness.register()
    tokens = await core_harness.login()
    old = core_harness.mailer.last_token("ana@example.test")

    response = await core_harness.client.post(
        "/auth/verify-email/request", headers=core_harness.bearer(tokens)
    )
    new = core_harness.mailer.last_token("ana@example.test")

    assert response.status_code == 202
    assert new != old
    stale = await core_harness.client.post("/auth/verify-email/confirm", json={"token": old})
    assert stale.status_code == 422
    fresh = await core_harness.client.post("/auth/verify-email/confirm", json={"token": new})
    assert fresh.status_code == 204
